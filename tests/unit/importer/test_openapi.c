/* The OpenAPI importer's parser against the shared corpus, broken documents and a generated
 * 5,000-operation spec; then the store write (import.c) and an export -> parse round trip. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include "importer/importer.h"
#include "pb.h"
#include "store/store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CORPUS "/work/shared/openapi-corpus/"

static char *
slurp(const char *path, size_t *ret_len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    (void)fseek(f, 0, SEEK_END);
    long n = ftell(f);
    (void)fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *ret_len = (size_t)n;
    return buf;
}

struct parsed {
    int r;
    char err[512];
    Edge__V1__ImportApiResponse *resp;
    Edge__V1__ListRoutesResponse *routes;
    size_t key_routes;
};

static void
parse(const char *doc, size_t len, const char *name, const char *upstream, struct parsed *p)
{
    struct cp_importer_opts o = {.name = name, .upstream = upstream, .filename = "t"};
    memset(p, 0, sizeof(*p));
    p->r = cp_importer_parse(doc, len, &o, &p->resp, &p->routes, p->err, sizeof(p->err));
    if (p->r == 0)
        for (size_t i = 0; i < p->routes->n_routes; i++)
            p->key_routes += p->routes->routes[i]->api_key_required;
}

static void
parsed_done(struct parsed *p)
{
    edge_pb_free(p->resp);
    edge_pb_free(p->routes);
}

static bool
has_warning(const struct parsed *p, const char *frag)
{
    for (size_t i = 0; p->resp && i < p->resp->n_warnings; i++)
        if (strstr(p->resp->warnings[i], frag))
            return true;
    return false;
}

/* Every corpus file: routes, routes needing a key, a warning (or error) fragment. */
static const struct corpus_case {
    const char *file;
    const char *upstream; /* --upstream, for documents without servers */
    int routes;           /* -1: must fail */
    int key_routes;
    int warnings;         /* -1: any number */
    const char *fragment; /* in a warning, or in the error when routes == -1 */
} corpus[] = {
    {"oai-v3.0-petstore.yaml", NULL, 3, 0, 0, NULL},
    {"oai-v3.0-petstore-expanded.json", NULL, 4, 0, 0, NULL},
    {"oai-v3.0-api-with-examples.yaml", NULL, -1, 0, 0,
     "no upstream: the document has no servers; give --upstream"},
    {"oai-v3.0-api-with-examples.yaml", "be", 2, 0, 0, NULL},
    {"oai-v3.0-callback-example.yaml", "be", 1, 0, 1,
     "#/paths/~1streams/post/callbacks: callbacks are not imported"},
    {"oai-v3.0-link-example.yaml", "be", 6, 0, 0, NULL},
    {"oai-v3.0-uspto.yaml", NULL, 3, 0, 0, NULL},
    {"oai-v3.1-webhook-example.yaml", "be", 0, 0, 1, "#/webhooks"},
    {"oai-v2.0-petstore.yaml", NULL, 3, 0, 0, NULL},
    {"oai-v2.0-petstore.json", NULL, 3, 0, 0, NULL},
    {"oai-v2.0-petstore-separate/spec/swagger.json", NULL, -1, 0, 0,
     "$ref 'parameters.json#/tagsParam' points at another document"},
    {"readme-swagger2-petstore-full.yaml", NULL, 20, 2, 0, NULL},
    {"readme-security.yaml", NULL, 15, 4, 1, "apiKey in 'cookie' is not supported"},
    {"readme-security-multiple.json", NULL, 4, 4, 2, "more than one API key scheme"},
    {"aws-apigw-export-petstore.oas30.json", NULL, -1, 0, 0,
     "no upstream: the document's server is not usable"},
    {"aws-apigw-export-petstore.oas30.json", "be", 6, 0, -1, "type \"mock\" is not supported"},
    {"aws-apigw-petstore-authorizer.swagger.json", NULL, -1, 0, 0, "no upstream"},
    {"aws-apigw-petstore-authorizer.swagger.json", "be", 6, 0, -1, "authorizers are not imported"},
    {"kong-learnservice_oas.yaml", NULL, 6, 0, 0, NULL},
    {"tyk-urlSorting.oas.json", NULL, 10, 0, 0, NULL},
    {"redocly-museum-api.yaml", NULL, 8, 0, 1, "#/webhooks"},
    {"twilio-api-v2010.yaml", NULL, 197, 0, 0, NULL},
    /* Their per-operation servers (files.stripe.com, uploads.github.com) get upstreams. */
    {"stripe-spec3.yaml", NULL, 468, 0, 0, NULL},
    {"github-api.github.com.json", NULL, 874, 0, 0, NULL},
};

static void
test_corpus(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(corpus) / sizeof(corpus[0]); i++) {
        const struct corpus_case *c = &corpus[i];
        char path[512];
        size_t len;
        (void)snprintf(path, sizeof(path), CORPUS "%s", c->file);
        char *doc = slurp(path, &len);
        if (!doc) {
            print_message("skip %s (corpus not found)\n", c->file);
            continue;
        }
        struct parsed p;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        parse(doc, len, "t", c->upstream, &p);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
        if (p.r < 0)
            print_message("%-45s error: %s (%.0f ms)\n", c->file, p.err, ms);
        else
            print_message("%-45s %zu routes, %zu need a key, %zu warnings, %zu upstreams "
                          "(%.0f ms)\n",
                          c->file, p.routes->n_routes, p.key_routes, p.resp->n_warnings,
                          p.resp->n_upstreams, ms);
        if (c->routes == -1) {
            assert_int_equal(p.r, -EINVAL);
            assert_non_null(strstr(p.err, c->fragment));
        } else {
            if (p.r != 0)
                fail_msg("%s: %s", c->file, p.err);
            if (c->routes >= 0)
                assert_int_equal(p.routes->n_routes, (size_t)c->routes);
            else
                assert_true(p.routes->n_routes > 0);
            if (c->key_routes >= 0)
                assert_int_equal(p.key_routes, (size_t)c->key_routes);
            if (c->warnings >= 0)
                assert_int_equal(p.resp->n_warnings, (size_t)c->warnings);
            if (c->fragment && !has_warning(&p, c->fragment))
                fail_msg("%s: no warning with '%s'", c->file, c->fragment);
        }
        parsed_done(&p);
        free(doc);
    }
}

static const struct broken_case {
    const char *doc;
    const char *fragment;
} broken[] = {
    {"openapi: 3.0.0\ninfo: {title: x\npaths: {}\n", "line "},
    {"{\"openapi\": \"3.0.0\", \"paths\": {},}", "line 1, column "},
    {"- a\n- b\n", "must be an object"},
    {"info: {title: x}\npaths: {}\n", "missing 'openapi' or 'swagger'"},
    {"openapi: 4.0.0\ninfo: {title: x}\npaths: {}\n", "unsupported version '4.0.0'"},
    {"swagger: '1.2'\ninfo: {title: x}\npaths: {}\n", "unsupported version '1.2'"},
    {"openapi: 3.0.0\ninfo: {title: x}\n", "#/paths: missing"},
    {"openapi: 3.0.0\ninfo: {title: '!!!'}\nservers: [{url: 'http://h'}]\npaths: {}\n",
     "give --name"},
    {"openapi: 3.0.0\ninfo: {title: x}\nservers: [{url: 'http://h'}]\npaths:\n  /a:\n    get:\n"
     "      parameters: [{$ref: '#/components/parameters/nope'}]\n",
     "#/paths/~1a/get/parameters/0: unresolvable $ref '#/components/parameters/nope'"},
    {"openapi: 3.0.0\ninfo: {title: x}\nservers: [{url: 'http://h'}]\npaths:\n"
     "  /a: {$ref: '#/paths/~1b'}\n  /b: {$ref: '#/paths/~1a'}\n",
     "circular $ref"},
    {"openapi: 3.0.0\ninfo: {title: x}\nservers: [{url: 'http://h'}]\npaths:\n  /a:\n"
     "    get: {$ref: 'other.yaml#/get'}\n",
     "'other.yaml#/get'"},
    {"", "empty document"},
};

static void
test_broken(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
        struct parsed p;
        parse(broken[i].doc, strlen(broken[i].doc), NULL, NULL, &p);
        print_message("broken[%zu]: %s\n", i, p.err);
        assert_int_equal(p.r, -EINVAL);
        if (!strstr(p.err, broken[i].fragment))
            fail_msg("broken[%zu]: '%s' lacks '%s'", i, p.err, broken[i].fragment);
    }
}

static const char features[] =
    "openapi: 3.1.0\n"
    "info: {title: Feature Test API, version: '2'}\n"
    "servers: [{url: '{scheme}://api.example.com:8443/base', variables: {scheme: {default: "
    "https}}}]\n"
    "x-amazon-apigateway-api-key-source: AUTHORIZER\n"
    "security: [{k: []}]\n"
    "components:\n"
    "  securitySchemes:\n"
    "    k: {type: apiKey, in: query, name: key}\n"
    "    b: {type: http, scheme: bearer}\n"
    "  schemas:\n"
    "    A: {type: object, properties: {b: {$ref: '#/components/schemas/B'}}}\n"
    "    B: {type: object, properties: {a: {$ref: '#/components/schemas/A'}}}\n"
    "  pathItems:\n"
    "    shared: {get: {operationId: shared, responses: {'200': {description: ok}}}}\n"
    "paths:\n"
    "  /open:\n"
    "    parameters: [{name: nope, in: path, required: true}, {name: q, in: query}]\n"
    "    get: {security: [], parameters: [{name: q, in: query}],\n"
    "          responses: {'200': {description: ok}}}\n"
    "  /bearer: {get: {security: [{b: []}], responses: {'200': {description: ok}}}}\n"
    "  /files/{name}.json: {get: {summary: S, responses: {'200': {description: ok}}}}\n"
    "  /ref: {$ref: '#/components/pathItems/shared'}\n"
    "  /{proxy+}:\n"
    "    x-amazon-apigateway-any-method:\n"
    "      responses: {'200': {description: ok}}\n"
    "      x-amazon-apigateway-integration: {type: http_proxy, httpMethod: ANY,\n"
    "        uri: 'http://backend.internal/{proxy}'}\n"
    "  /items/{itemId}:\n"
    "    put:\n"
    "      responses: {'200': {description: ok}}\n"
    "      x-amazon-apigateway-integration: {type: http, httpMethod: POST,\n"
    "        uri: 'http://backend.internal/things/{id}', requestParameters:\n"
    "          {integration.request.path.id: method.request.path.itemId,\n"
    "           integration.request.header.x: \"'v'\"}}\n"
    "    delete:\n"
    "      responses: {'200': {description: ok}}\n"
    "      x-amazon-apigateway-integration: {type: aws, uri: 'arn:aws:x'}\n"
    "webhooks: {ping: {post: {responses: {'200': {description: ok}}}}}\n";

static const Edge__V1__Route *
find(const struct parsed *p, const char *method, const char *path)
{
    for (size_t i = 0; i < p->routes->n_routes; i++)
        if (strcmp(p->routes->routes[i]->method, method) == 0 &&
            strcmp(p->routes->routes[i]->path, path) == 0)
            return p->routes->routes[i];
    return NULL;
}

static void
test_features(void **state)
{
    (void)state;
    struct parsed p;
    parse(features, strlen(features), NULL, NULL, &p);
    if (p.r != 0)
        fail_msg("%s", p.err);
    for (size_t i = 0; i < p.resp->n_warnings; i++)
        print_message("warning: %s\n", p.resp->warnings[i]);
    assert_string_equal(p.resp->api->name, "feature-test-api");
    assert_string_equal(p.resp->api->title, "Feature Test API");
    assert_string_equal(p.resp->api->version, "2");
    assert_string_equal(p.resp->api->api_key_source, "AUTHORIZER");
    assert_int_equal(p.routes->n_routes, 7);

    const Edge__V1__Route *r = find(&p, "GET", "/open");
    assert_non_null(r);
    assert_false(r->api_key_required);
    assert_string_equal(r->integration->upstream, "feature-test-api-default");
    assert_string_equal(r->integration->path, "/base/open");
    r = find(&p, "GET", "/bearer");
    assert_false(r->api_key_required);
    assert_int_equal(r->n_auth_requirements, 1);
    assert_string_equal(r->auth_requirements[0], "b");
    r = find(&p, "GET", "/files/{name}.json");
    assert_true(r->api_key_required);
    assert_string_equal(r->api_key_in, "query");
    assert_string_equal(r->api_key_name, "key");
    assert_string_equal(r->summary, "S");
    r = find(&p, "GET", "/ref");
    assert_string_equal(r->operation_id, "shared");
    r = find(&p, "ANY", "/{proxy+}");
    assert_non_null(r);
    assert_string_equal(r->integration->path, "/{proxy}");
    assert_string_not_equal(r->integration->upstream, "feature-test-api-default");
    r = find(&p, "PUT", "/items/{itemId}");
    assert_string_equal(r->integration->path, "/things/{itemId}");
    r = find(&p, "DELETE", "/items/{itemId}");
    assert_string_equal(r->integration->upstream, "feature-test-api-default");

    assert_int_equal(p.resp->n_upstreams, 2);
    const Edge__V1__Upstream *u = p.resp->upstreams[0];
    assert_string_equal(u->name, "feature-test-api-default");
    assert_true(u->tls);
    assert_int_equal(u->targets[0]->port, 8443);
    assert_string_equal(u->targets[0]->host, "api.example.com");

    assert_true(has_warning(&p, "#/paths/~1items~1{itemId}/delete/x-amazon-apigateway-integration:"
                                " type \"aws\" is not supported; route imported without it"));
    assert_true(has_warning(&p, "httpMethod: POST differs"));
    assert_true(has_warning(&p, "integration.request.header.x"));
    assert_true(has_warning(&p, "#/webhooks"));
    assert_true(has_warning(&p, "#/paths/~1open/get/parameters: path parameter 'nope' is not in "
                                "the template /open"));
    parsed_done(&p);
}

/* Shaped like API Gateway's "Export as OpenAPI 3 + API Gateway extensions" of a REST API whose
 * integrations point at a stage variable (the AWS docs' "http://${stageVariables.url}/..."
 * pattern). */
static const char aws_stage_vars[] =
    "{\n"
    "  \"openapi\" : \"3.0.1\",\n"
    "  \"info\" : {\n"
    "    \"title\" : \"PetStore\",\n"
    "    \"version\" : \"2024-05-02T09:12:45Z\"\n"
    "  },\n"
    "  \"servers\" : [ {\n"
    "    \"url\" : \"https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/{basePath}\",\n"
    "    \"variables\" : {\n"
    "      \"basePath\" : {\n"
    "        \"default\" : \"prod\"\n"
    "      }\n"
    "    }\n"
    "  } ],\n"
    "  \"paths\" : {\n"
    "    \"/pets/{petId}\" : {\n"
    "      \"get\" : {\n"
    "        \"parameters\" : [ {\n"
    "          \"name\" : \"petId\",\n"
    "          \"in\" : \"path\",\n"
    "          \"required\" : true,\n"
    "          \"schema\" : {\n"
    "            \"type\" : \"string\"\n"
    "          }\n"
    "        } ],\n"
    "        \"responses\" : {\n"
    "          \"200\" : {\n"
    "            \"description\" : \"200 response\",\n"
    "            \"content\" : {\n"
    "              \"application/json\" : {\n"
    "                \"schema\" : {\n"
    "                  \"$ref\" : \"#/components/schemas/Pet\"\n"
    "                }\n"
    "              }\n"
    "            }\n"
    "          }\n"
    "        },\n"
    "        \"x-amazon-apigateway-integration\" : {\n"
    "          \"httpMethod\" : \"GET\",\n"
    "          \"uri\" : \"http://${stageVariables.backend}/petstore/pets/{id}\",\n"
    "          \"responses\" : {\n"
    "            \"default\" : {\n"
    "              \"statusCode\" : \"200\"\n"
    "            }\n"
    "          },\n"
    "          \"requestParameters\" : {\n"
    "            \"integration.request.path.id\" : \"method.request.path.petId\"\n"
    "          },\n"
    "          \"passthroughBehavior\" : \"when_no_match\",\n"
    "          \"timeoutInMillis\" : 29000,\n"
    "          \"type\" : \"http_proxy\"\n"
    "        }\n"
    "      }\n"
    "    },\n"
    "    \"/pets\" : {\n"
    "      \"get\" : {\n"
    "        \"responses\" : {\n"
    "          \"200\" : {\n"
    "            \"description\" : \"200 response\"\n"
    "          }\n"
    "        },\n"
    "        \"x-amazon-apigateway-integration\" : {\n"
    "          \"httpMethod\" : \"GET\",\n"
    "          \"uri\" : \"http://${stageVariables.backend}/petstore/pets/\",\n"
    "          \"passthroughBehavior\" : \"when_no_match\",\n"
    "          \"type\" : \"http_proxy\"\n"
    "        }\n"
    "      },\n"
    "      \"post\" : {\n"
    "        \"responses\" : {\n"
    "          \"200\" : {\n"
    "            \"description\" : \"200 response\"\n"
    "          }\n"
    "        },\n"
    "        \"x-amazon-apigateway-integration\" : {\n"
    "          \"httpMethod\" : \"POST\",\n"
    "          \"uri\" : "
    "\"https://${stageVariables.backend}/petstore/${stageVariables.ver}/pets\",\n"
    "          \"passthroughBehavior\" : \"when_no_match\",\n"
    "          \"type\" : \"http\"\n"
    "        }\n"
    "      }\n"
    "    },\n"
    "    \"/{proxy+}\" : {\n"
    "      \"x-amazon-apigateway-any-method\" : {\n"
    "        \"parameters\" : [ {\n"
    "          \"name\" : \"proxy\",\n"
    "          \"in\" : \"path\",\n"
    "          \"required\" : true,\n"
    "          \"schema\" : {\n"
    "            \"type\" : \"string\"\n"
    "          }\n"
    "        } ],\n"
    "        \"x-amazon-apigateway-integration\" : {\n"
    "          \"httpMethod\" : \"ANY\",\n"
    "          \"uri\" : \"http://${stageVariables.host}:8080/{proxy}\",\n"
    "          \"requestParameters\" : {\n"
    "            \"integration.request.path.proxy\" : \"method.request.path.proxy\"\n"
    "          },\n"
    "          \"passthroughBehavior\" : \"when_no_match\",\n"
    "          \"cacheKeyParameters\" : [ \"method.request.path.proxy\" ],\n"
    "          \"type\" : \"http_proxy\"\n"
    "        }\n"
    "      }\n"
    "    }\n"
    "  },\n"
    "  \"components\" : {\n"
    "    \"schemas\" : {\n"
    "      \"Pet\" : {\n"
    "        \"type\" : \"object\",\n"
    "        \"properties\" : {\n"
    "          \"id\" : {\n"
    "            \"type\" : \"integer\"\n"
    "          },\n"
    "          \"type\" : {\n"
    "            \"type\" : \"string\"\n"
    "          }\n"
    "        }\n"
    "      }\n"
    "    }\n"
    "  }\n"
    "}\n";

static void
test_aws_stage_variables(void **state)
{
    (void)state;
    struct parsed p;
    parse(aws_stage_vars, strlen(aws_stage_vars), NULL, "be", &p);
    if (p.r != 0)
        fail_msg("%s", p.err);
    for (size_t i = 0; i < p.resp->n_warnings; i++)
        print_message("warning: %s\n", p.resp->warnings[i]);
    assert_string_equal(p.resp->api->name, "petstore");
    assert_int_equal(p.routes->n_routes, 4);
    /* The variable is the route's upstream; the rest of the URI its path (renamed as
     * requestParameters say). */
    const Edge__V1__Route *r = find(&p, "GET", "/pets/{petId}");
    assert_non_null(r);
    assert_string_equal(r->integration->upstream, "${stageVariables.backend}");
    assert_string_equal(r->integration->path, "/petstore/pets/{petId}");
    assert_int_equal(r->integration->timeout_ms, 29000);
    r = find(&p, "GET", "/pets");
    assert_string_equal(r->integration->upstream, "${stageVariables.backend}");
    assert_string_equal(r->integration->path, "/petstore/pets");
    /* https: the upstream the value names decides TLS; variables in the path stay. */
    r = find(&p, "POST", "/pets");
    assert_string_equal(r->integration->upstream, "${stageVariables.backend}");
    assert_string_equal(r->integration->path, "/petstore/${stageVariables.ver}/pets");
    assert_true(has_warning(&p, "#/paths/~1pets/post/x-amazon-apigateway-integration/uri: "
                                "'https://${stageVariables.backend}/petstore/"
                                "${stageVariables.ver}/pets': with a stage variable as the host"));
    /* A variable that is only part of the host is refused with the place; the route gets the
     * --upstream. */
    r = find(&p, "ANY", "/{proxy+}");
    assert_non_null(r);
    assert_string_equal(r->integration->upstream, "be");
    assert_string_equal(r->integration->path, "/prod/{proxy+}");
    assert_true(has_warning(&p, "#/paths/~1{proxy+}/x-amazon-apigateway-any-method/"
                                "x-amazon-apigateway-integration/uri: "
                                "'http://${stageVariables.host}:8080/{proxy}': a stage variable "
                                "must be the whole host[:port]"));
    assert_int_equal(p.resp->n_upstreams, 0); /* no upstream for "${stageVariables...}" */
    parsed_done(&p);

    /* x-edge-integration: the upstream as a stage variable, or a uri like AWS's. */
    static const char edge[] =
        "openapi: 3.0.3\n"
        "info: {title: e, version: '1'}\n"
        "paths:\n"
        "  /a: {get: {responses: {'200': {description: ok}},\n"
        "       x-edge-integration: {upstream: '${stageVariables.backend}', path: /v1/a}}}\n"
        "  /b/{id}: {get: {responses: {'200': {description: ok}},\n"
        "       x-edge-integration: {uri: 'http://${stageVariables.backend}/v2/b/{id}'}}}\n"
        "  /c: {get: {responses: {'200': {description: ok}},\n"
        "       x-edge-integration: {uri: 'http://svc.internal:8080/c', timeout_ms: 5}}}\n"
        "  /d: {get: {responses: {'200': {description: ok}},\n"
        "       x-edge-integration: {upstream: '${stageVariables.back-end}'}}}\n";
    parse(edge, strlen(edge), NULL, NULL, &p);
    if (p.r != 0)
        fail_msg("%s", p.err);
    assert_int_equal(p.routes->n_routes, 3);
    r = find(&p, "GET", "/a");
    assert_string_equal(r->integration->upstream, "${stageVariables.backend}");
    assert_string_equal(r->integration->path, "/v1/a");
    r = find(&p, "GET", "/b/{id}");
    assert_string_equal(r->integration->upstream, "${stageVariables.backend}");
    assert_string_equal(r->integration->path, "/v2/b/{id}");
    r = find(&p, "GET", "/c");
    assert_string_equal(r->integration->upstream, "e-int0");
    assert_string_equal(r->integration->path, "/c");
    assert_int_equal(r->integration->timeout_ms, 5);
    assert_true(has_warning(&p, "#/paths/~1d/get: route.integration.upstream: bad stage variable "
                                "name at offset 0; operation not imported"));
    parsed_done(&p);
}

static const char local_servers[] =
    "openapi: 3.0.3\n"
    "info: {title: Files, version: '1'}\n"
    "servers: [{url: 'https://api.example.com/v1'}]\n"
    "paths:\n"
    "  /files:\n"
    "    get: {responses: {'200': {description: ok}}}\n"
    "    post:\n"
    "      responses: {'200': {description: ok}}\n"
    "      servers:\n"
    "        - url: 'https://{host}.example.com:{port}/upload'\n"
    "          variables: {host: {default: uploads}, port: {default: '8443'}}\n"
    "        - url: 'https://backup.example.com'\n"
    "  /files/{id}:\n"
    "    servers: [{url: 'http://files.internal:9000/store/'}]\n"
    "    get: {responses: {'200': {description: ok}}}\n"
    "    delete:\n"
    "      responses: {'200': {description: ok}}\n"
    "      servers: [{url: 'https://API.example.com/v1'}]\n"
    "  /same:\n"
    "    servers: [{url: 'http://files.internal:9000/other'}]\n"
    "    get: {responses: {'200': {description: ok}}}\n"
    "  /rel:\n"
    "    get: {responses: {'200': {description: ok}}, servers: [{url: /v2}]}\n"
    "  /bad:\n"
    "    get: {responses: {'200': {description: ok}}, servers: [{url: 'ftp://x'}]}\n"
    "  /none:\n"
    "    get: {responses: {'200': {description: ok}}, servers: []}\n";

static const Edge__V1__Upstream *
find_upstream(const struct parsed *p, const char *name)
{
    for (size_t i = 0; i < p->resp->n_upstreams; i++)
        if (strcmp(p->resp->upstreams[i]->name, name) == 0)
            return p->resp->upstreams[i];
    return NULL;
}

static void
test_local_servers(void **state)
{
    (void)state;
    struct parsed p;
    parse(local_servers, strlen(local_servers), NULL, NULL, &p);
    if (p.r != 0)
        fail_msg("%s", p.err);
    for (size_t i = 0; i < p.resp->n_warnings; i++)
        print_message("warning: %s\n", p.resp->warnings[i]);
    assert_int_equal(p.routes->n_routes, 8);
    static const struct {
        const char *method, *path, *upstream, *upath;
    } want[] = {
        {"GET", "/files", "files-default", "/v1/files"},
        {"POST", "/files", "files-uploads.example.com-8443", "/upload/files"},
        {"GET", "/files/{id}", "files-files.internal-9000", "/store/files/{id}"},
        {"DELETE", "/files/{id}", "files-default", "/v1/files/{id}"}, /* the document's */
        {"GET", "/same", "files-files.internal-9000", "/other/same"}, /* reused */
        {"GET", "/rel", "files-default", "/v2/rel"},
        {"GET", "/bad", "files-default", "/v1/bad"},
        {"GET", "/none", "files-default", "/v1/none"},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const Edge__V1__Route *r = find(&p, want[i].method, want[i].path);
        if (!r)
            fail_msg("no route %s %s", want[i].method, want[i].path);
        if (strcmp(r->integration->upstream, want[i].upstream) != 0 ||
            strcmp(r->integration->path, want[i].upath) != 0)
            fail_msg("%s %s: %s %s, want %s %s", want[i].method, want[i].path,
                     r->integration->upstream, r->integration->path, want[i].upstream,
                     want[i].upath);
    }
    assert_int_equal(p.resp->n_upstreams, 3);
    const Edge__V1__Upstream *u = find_upstream(&p, "files-uploads.example.com-8443");
    assert_non_null(u);
    assert_true(u->tls);
    assert_string_equal(u->sni, "uploads.example.com");
    assert_string_equal(u->targets[0]->host, "uploads.example.com");
    assert_int_equal(u->targets[0]->port, 8443);
    assert_int_equal(u->connect_timeout_ms, 2000); /* defaults, as the document's upstream */
    u = find_upstream(&p, "files-files.internal-9000");
    assert_non_null(u);
    assert_false(u->tls);
    assert_int_equal(u->targets[0]->port, 9000);
    assert_int_equal(p.resp->n_warnings, 2);
    assert_true(has_warning(&p, "#/paths/~1files/post/servers: 2 servers; the first is used"));
    assert_true(has_warning(&p, "#/paths/~1bad/get/servers/0/url: 'ftp://x' is not an http(s) "
                                "URL; the document's server is used"));
    parsed_done(&p);

    /* --upstream overrides every server. */
    parse(local_servers, strlen(local_servers), NULL, "be", &p);
    assert_int_equal(p.r, 0);
    assert_int_equal(p.resp->n_upstreams, 0);
    for (size_t i = 0; i < p.routes->n_routes; i++)
        assert_string_equal(p.routes->routes[i]->integration->upstream, "be");
    assert_string_equal(find(&p, "POST", "/files")->integration->path, "/v1/files");
    parsed_done(&p);

    /* Same document, same names: a re-import finds its upstreams. A name that does not fit
     * (a long host) becomes a hash of the target. */
    static const char longhost[] =
        "openapi: 3.0.3\n"
        "info: {title: Files, version: '1'}\n"
        "paths:\n"
        "  /x: {get: {responses: {'200': {description: ok}}, servers: [{url: "
        "'http://a-very-long-host-name-for-an-upload-service.storage.example.com'}]}}\n";
    parse(longhost, strlen(longhost), NULL, NULL, &p);
    assert_int_equal(p.r, 0);
    const char *name = p.routes->routes[0]->integration->upstream;
    assert_int_equal(strncmp(name, "files-srv-", 10), 0);
    assert_int_equal(strlen(name), 18);
    char first[64];
    (void)snprintf(first, sizeof(first), "%s", name);
    parsed_done(&p);
    parse(longhost, strlen(longhost), NULL, NULL, &p);
    assert_string_equal(p.routes->routes[0]->integration->upstream, first);
    parsed_done(&p);
}

static char *
generated(size_t n, size_t *ret_len)
{
    size_t cap = n * 120 + 256, o = 0;
    char *doc = malloc(cap);
    assert_non_null(doc);
    o += (size_t)snprintf(doc + o, cap - o,
                          "{\"openapi\":\"3.0.3\",\"info\":{\"title\":\"big\",\"version\":\"1\"},"
                          "\"servers\":[{\"url\":\"http://127.0.0.1:9\"}],\"paths\":{");
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(doc + o, cap - o,
                              "%s\"/r%zu/items/{id}\":{\"get\":{\"operationId\":\"op%zu\","
                              "\"responses\":{\"200\":{\"description\":\"ok\"}}}}",
                              i ? "," : "", i, i);
    o += (size_t)snprintf(doc + o, cap - o, "}}");
    *ret_len = o;
    return doc;
}

static double
now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void
test_generated_5000(void **state)
{
    (void)state;
    size_t len;
    char *doc = generated(5000, &len);
    char dir[] = "/tmp/edge-import-XXXXXX", db[64], err[256];
    assert_non_null(mkdtemp(dir));
    (void)snprintf(db, sizeof(db), "%s/cp.db", dir);
    struct cp_store *st = cp_store_open(db, err, sizeof(err));
    assert_non_null(st);

    double t0 = now_s();
    struct parsed p;
    parse(doc, len, NULL, NULL, &p);
    assert_int_equal(p.r, 0);
    double t1 = now_s();
    struct cp_store_err e = {0};
    int r = cp_store_api_import(st, "test", EDGE__V1__IMPORT_MODE__IMPORT_MODE_CREATE, false,
                                p.routes, p.resp, &e);
    if (r < 0)
        fail_msg("%s", e.message);
    double t2 = now_s();
    print_message("5000 operations: parse %.3f s, store %.3f s, total %.3f s\n", t1 - t0, t2 - t1,
                  t2 - t0);
    /* Speed is measured, not asserted: a loaded CI machine must not fail this test. */
    assert_int_equal(p.resp->n_changes, 5000);
    assert_true(p.resp->revision > 0);

    /* Export -> parse gives the same routes. */
    Edge__V1__ListRoutesResponse *list;
    assert_int_equal(cp_store_route_list(st, "big", &list, &e), 0);
    Edge__V1__Upstream *up;
    assert_int_equal(cp_store_upstream_get(st, "big-default", &up, &e), 0);
    char *out;
    size_t out_len;
    for (int json = 0; json < 2; json++) {
        assert_int_equal(cp_importer_export(p.resp->api, list->routes, list->n_routes, &up, 1, NULL,
                                            json, &out, &out_len, err, sizeof(err)),
                         0);
        struct parsed q;
        parse(out, out_len, "copy", NULL, &q);
        if (q.r != 0)
            fail_msg("%s", q.err);
        assert_int_equal(q.routes->n_routes, 5000);
        for (size_t i = 0; i < 5000; i += 499) {
            const Edge__V1__Route *a = list->routes[i];
            const Edge__V1__Route *b = find(&q, a->method, a->path);
            assert_non_null(b);
            assert_string_equal(a->operation_id, b->operation_id);
            assert_string_equal(a->integration->upstream, b->integration->upstream);
            assert_string_equal(a->integration->path, b->integration->path);
        }
        parsed_done(&q);
        free(out);
    }
    edge_pb_free(up);
    edge_pb_free(list);
    parsed_done(&p);
    cp_store_close(st);
    (void)unlink(db);
    char side[80];
    (void)snprintf(side, sizeof(side), "%s-wal", db);
    (void)unlink(side);
    (void)snprintf(side, sizeof(side), "%s-shm", db);
    (void)unlink(side);
    (void)rmdir(dir);
    free(doc);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus),        cmocka_unit_test(test_broken),
        cmocka_unit_test(test_features),      cmocka_unit_test(test_aws_stage_variables),
        cmocka_unit_test(test_local_servers), cmocka_unit_test(test_generated_5000),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
