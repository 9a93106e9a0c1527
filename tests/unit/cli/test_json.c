/* The descriptor-driven protobuf <-> JSON converter: the JSON shape of a few real messages,
 * and message -> JSON -> message round trips compared on the packed bytes. */
/* cmocka.h needs these before it. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
// clang-format on

#include "edge/v1/admin.pb-c.h"
#include "json.h"
#include "pb.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Packs both messages and compares the bytes. */
static void
assert_same_message(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
    assert_ptr_equal(a->descriptor, b->descriptor);
    size_t na = protobuf_c_message_get_packed_size(a), nb = protobuf_c_message_get_packed_size(b);
    assert_int_equal(na, nb);
    uint8_t *pa = malloc(na + 1), *pb = malloc(nb + 1);
    protobuf_c_message_pack(a, pa);
    protobuf_c_message_pack(b, pb);
    assert_memory_equal(pa, pb, na);
    free(pa);
    free(pb);
}

/* msg -> JSON text -> parsed JSON -> message; returns the JSON (caller decrefs). */
static json_t *
round_trip(const ProtobufCMessage *msg)
{
    json_t *j = ctl_json_from_message(msg);
    assert_non_null(j);
    /* Through text too, as a consumer would see it. */
    char *text = json_dumps(j, JSON_COMPACT);
    assert_non_null(text);
    json_error_t jerr;
    json_t *parsed = json_loads(text, 0, &jerr);
    assert_non_null(parsed);
    free(text);

    ProtobufCMessage *back = NULL;
    char err[256] = "";
    assert_int_equal(ctl_json_to_message(msg->descriptor, parsed, &back, err, sizeof(err)), 0);
    assert_non_null(back);
    assert_same_message(msg, back);
    edge_pb_free(back);
    json_decref(parsed);
    return j;
}

static void
test_route(void **state)
{
    Edge__V1__Route *r = edge_pb_new(&edge__v1__route__descriptor);
    r->id = edge_pb_strdup("r-0123456789ab");
    r->api = edge_pb_strdup("shop");
    r->method = edge_pb_strdup("GET");
    r->path = edge_pb_strdup("/pets/{id}");
    Edge__V1__HeaderMatch *h = edge_pb_new(&edge__v1__header_match__descriptor);
    h->name = edge_pb_strdup("x-env");
    h->value = edge_pb_strdup("prod \"quoted\" \xc3\xa9");
    edge_pb_append((void ***)&r->headers, &r->n_headers, h);
    r->integration = edge_pb_new(&edge__v1__integration__descriptor);
    r->integration->upstream = edge_pb_strdup("pets");
    r->integration->timeout_ms = 1500;
    r->api_key_required = 1;
    r->max_body_bytes = 1ull << 40;
    r->created_at = 1764654690;

    json_t *j = round_trip(&r->base);
    assert_string_equal(json_string_value(json_object_get(j, "method")), "GET");
    assert_string_equal(json_string_value(json_object_get(j, "host")), "");
    assert_true(json_is_true(json_object_get(j, "api_key_required")));
    assert_int_equal(json_integer_value(json_object_get(j, "created_at")), 1764654690);
    assert_int_equal(json_integer_value(json_object_get(j, "max_body_bytes")), 1ll << 40);
    assert_true(json_is_null(json_object_get(j, "throttle"))); /* unset sub-message */
    json_t *headers = json_object_get(j, "headers");
    assert_int_equal(json_array_size(headers), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(headers, 0), "value")),
                        "prod \"quoted\" \xc3\xa9");
    json_t *integ = json_object_get(j, "integration");
    assert_int_equal(json_integer_value(json_object_get(integ, "timeout_ms")), 1500);
    assert_string_equal(json_string_value(json_object_get(integ, "path")), "");
    json_decref(j);

    /* A set throttle, and a NaN rate, which jansson cannot hold as a number. */
    r->throttle = edge_pb_new(&edge__v1__throttle__descriptor);
    r->throttle->rate = 12.5;
    r->throttle->burst = 20;
    j = round_trip(&r->base);
    assert_true(json_real_value(json_object_get(json_object_get(j, "throttle"), "rate")) == 12.5);
    json_decref(j);
    r->throttle->rate = NAN;
    j = ctl_json_from_message(&r->base);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "throttle"), "rate")),
                        "NaN");
    ProtobufCMessage *back = NULL;
    char err[256];
    assert_int_equal(ctl_json_to_message(&edge__v1__route__descriptor, j, &back, err, sizeof(err)),
                     0);
    assert_true(isnan(((Edge__V1__Route *)back)->throttle->rate));
    edge_pb_free(back);
    json_decref(j);
    edge_pb_free(r);
}

static void
test_upstream_enum(void **state)
{
    Edge__V1__Upstream *u = edge_pb_new(&edge__v1__upstream__descriptor);
    u->name = edge_pb_strdup("pets");
    u->lb = EDGE__V1__LB_POLICY__LB_POLICY_LEAST_REQUEST;
    for (int i = 0; i < 3; i++) {
        Edge__V1__Target *t = edge_pb_new(&edge__v1__target__descriptor);
        t->host = edge_pb_strdup(i == 2 ? "::1" : "10.0.0.1");
        t->port = 8080 + i;
        t->weight = i;
        edge_pb_append((void ***)&u->targets, &u->n_targets, t);
    }
    u->tls = 1;
    u->health_check = edge_pb_new(&edge__v1__health_check__descriptor);
    u->health_check->path = edge_pb_strdup("/healthz");
    u->health_check->interval_ms = 5000;

    json_t *j = round_trip(&u->base);
    assert_string_equal(json_string_value(json_object_get(j, "lb")), "LB_POLICY_LEAST_REQUEST");
    json_t *targets = json_object_get(j, "targets");
    assert_int_equal(json_array_size(targets), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(targets, 2), "host")),
                        "::1");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(targets, 1), "port")), 8081);
    json_decref(j);

    /* An enum value the descriptor does not know prints as its number and reads back. */
    u->lb = 42;
    j = round_trip(&u->base);
    assert_int_equal(json_integer_value(json_object_get(j, "lb")), 42);
    json_decref(j);
    edge_pb_free(u);
}

static void
test_stage_map(void **state)
{
    Edge__V1__Stage *s = edge_pb_new(&edge__v1__stage__descriptor);
    s->api = edge_pb_strdup("shop");
    s->name = edge_pb_strdup("prod");
    static const char *const kv[][2] = {{"backend", "http://10.0.0.1"}, {"empty", ""}};
    for (int i = 0; i < 2; i++) {
        Edge__V1__Stage__VariablesEntry *e =
            edge_pb_new(&edge__v1__stage__variables_entry__descriptor);
        e->key = edge_pb_strdup(kv[i][0]);
        e->value = edge_pb_strdup(kv[i][1]);
        edge_pb_append((void ***)&s->variables, &s->n_variables, e);
    }
    s->canary = edge_pb_new(&edge__v1__canary__descriptor);
    s->canary->deployment_id = edge_pb_strdup("d-000000000001");
    s->canary->percent = 10;

    json_t *j = round_trip(&s->base);
    json_t *vars = json_object_get(j, "variables");
    assert_true(json_is_object(vars));
    assert_int_equal(json_object_size(vars), 2);
    assert_string_equal(json_string_value(json_object_get(vars, "backend")), "http://10.0.0.1");
    assert_string_equal(json_string_value(json_object_get(vars, "empty")), "");
    json_decref(j);
    edge_pb_free(s);
}

static void
test_bytes_repeated_strings(void **state)
{
    Edge__V1__ApiKey *k = edge_pb_new(&edge__v1__api_key__descriptor);
    k->id = edge_pb_strdup("k-000000000001");
    static const uint8_t secret[] = {0x00, 0xff, 0x10, 0x20, 0x7f};
    k->secret_sha256.data = malloc(sizeof(secret));
    memcpy(k->secret_sha256.data, secret, sizeof(secret));
    k->secret_sha256.len = sizeof(secret);
    /* Repeated strings must be heap blocks even when empty (free_unpacked frees each). */
    static const char *const plans[] = {"gold", "", "silver"};
    k->plans = calloc(3, sizeof(char *));
    for (int i = 0; i < 3; i++)
        k->plans[i] = strdup(plans[i]);
    k->n_plans = 3;

    json_t *j = round_trip(&k->base);
    assert_string_equal(json_string_value(json_object_get(j, "secret_sha256")), "AP8QIH8=");
    json_t *p = json_object_get(j, "plans");
    assert_int_equal(json_array_size(p), 3);
    assert_string_equal(json_string_value(json_array_get(p, 1)), "");
    json_decref(j);

    /* Every padding length decodes to the right size. */
    for (size_t len = 0; len <= sizeof(secret); len++) {
        k->secret_sha256.len = len;
        json_decref(round_trip(&k->base));
    }
    edge_pb_free(k);
}

static void
test_uint64_and_status(void **state)
{
    Edge__V1__Status st = EDGE__V1__STATUS__INIT;
    st.version = "0.1.0";
    st.revision = UINT64_MAX;
    st.started_at = -5;
    st.apis = UINT32_MAX;
    json_t *j = round_trip(&st.base);
    assert_string_equal(json_string_value(json_object_get(j, "revision")), "18446744073709551615");
    assert_int_equal(json_integer_value(json_object_get(j, "started_at")), -5);
    assert_int_equal(json_integer_value(json_object_get(j, "apis")), UINT32_MAX);
    json_decref(j);

    st.revision = 42;
    j = round_trip(&st.base);
    assert_int_equal(json_integer_value(json_object_get(j, "revision")), 42);
    json_decref(j);
}

static void
test_list_and_empty(void **state)
{
    Edge__V1__ListApisResponse *l = edge_pb_new(&edge__v1__list_apis_response__descriptor);
    json_t *j = round_trip(&l->base);
    assert_int_equal(json_array_size(json_object_get(j, "apis")), 0);
    json_decref(j);
    for (int i = 0; i < 2; i++) {
        Edge__V1__Api *a = edge_pb_new(&edge__v1__api__descriptor);
        a->name = edge_pb_strdup(i ? "b" : "a");
        a->route_count = (uint32_t)i;
        edge_pb_append((void ***)&l->apis, &l->n_apis, a);
    }
    j = round_trip(&l->base);
    assert_int_equal(json_array_size(json_object_get(j, "apis")), 2);
    json_decref(j);
    edge_pb_free(l);

    /* Every field of an empty message is present, with its zero value. */
    Edge__V1__Api api = EDGE__V1__API__INIT;
    j = round_trip(&api.base);
    assert_int_equal(json_object_size(j), edge__v1__api__descriptor.n_fields);
    assert_string_equal(json_string_value(json_object_get(j, "name")), "");
    assert_int_equal(json_integer_value(json_object_get(j, "route_count")), 0);
    json_decref(j);
}

static void
test_bad_json(void **state)
{
    static const struct {
        const char *json;
        const char *err_prefix;
    } cases[] = {
        {"[]", "(top): not an object"},
        {"{\"bogus\": 1}", "bogus: unknown field"},
        {"{\"integration\": {\"bogus\": 1}}", "integration.bogus: unknown field"},
        {"{\"integration\": {\"timeout_ms\": -1}}", "integration.timeout_ms: integer out of range"},
        {"{\"integration\": {\"timeout_ms\": 4294967296}}", "integration.timeout_ms: integer out"},
        {"{\"integration\": {\"timeout_ms\": \"x\"}}", "integration.timeout_ms: not an integer"},
        {"{\"integration\": 5}", "integration: not an object"},
        {"{\"method\": 5}", "method: not a string"},
        {"{\"api_key_required\": 1}", "api_key_required: not a boolean"},
        {"{\"headers\": {}}", "headers: not an array"},
        {"{\"headers\": [{\"name\": \"a\"}, 3]}", "headers: not an object"},
        {"{\"headers\": [{\"name\": \"a\"}, {\"nome\": \"b\"}]}", "headers.nome: unknown field"},
        {"{\"throttle\": {\"rate\": \"fast\"}}", "throttle.rate: not a number"},
        {"{\"max_body_bytes\": \"-1\"}", "max_body_bytes: not an unsigned integer"},
        {"{\"method\": \"a\\u0000b\"}", "method: string contains NUL"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_error_t jerr;
        json_t *j = json_loads(cases[i].json, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        assert_non_null(j);
        ProtobufCMessage *m = (ProtobufCMessage *)0x1;
        char err[256] = "";
        assert_int_equal(ctl_json_to_message(&edge__v1__route__descriptor, j, &m, err, sizeof(err)),
                         -EINVAL);
        assert_ptr_equal(m, (ProtobufCMessage *)0x1);
        if (strncmp(err, cases[i].err_prefix, strlen(cases[i].err_prefix)) != 0)
            fail_msg("case %zu: got \"%s\", want \"%s...\"", i, err, cases[i].err_prefix);
        json_decref(j);
    }

    static const char *const upstream_bad[] = {
        "{\"lb\": \"LB_POLICY_NOPE\"}",
        "{\"lb\": 1.5}",
        "{\"targets\": [{\"host\": \"a\", \"port\": \"p\"}]}",
    };
    for (size_t i = 0; i < sizeof(upstream_bad) / sizeof(upstream_bad[0]); i++) {
        json_t *j = json_loads(upstream_bad[i], 0, NULL);
        ProtobufCMessage *m = NULL;
        char err[256];
        assert_int_equal(
            ctl_json_to_message(&edge__v1__upstream__descriptor, j, &m, err, sizeof(err)), -EINVAL);
        assert_null(m);
        json_decref(j);
    }

    json_t *j = json_loads("{\"secret_sha256\": \"abc\"}", 0, NULL);
    ProtobufCMessage *m = NULL;
    char err[256];
    assert_int_equal(ctl_json_to_message(&edge__v1__api_key__descriptor, j, &m, err, sizeof(err)),
                     -EINVAL);
    assert_string_equal(err, "secret_sha256: bad base64");
    json_decref(j);

    j = json_loads("{\"variables\": {\"a\": 1}}", 0, NULL);
    assert_int_equal(ctl_json_to_message(&edge__v1__stage__descriptor, j, &m, err, sizeof(err)),
                     -EINVAL);
    json_decref(j);

    /* Numbers as strings and enums as numbers are accepted. */
    j = json_loads("{\"lb\": 2, \"retries\": \"3\"}", 0, NULL);
    assert_int_equal(ctl_json_to_message(&edge__v1__upstream__descriptor, j, &m, err, sizeof(err)),
                     0);
    assert_int_equal(((Edge__V1__Upstream *)m)->lb, EDGE__V1__LB_POLICY__LB_POLICY_CONSISTENT_HASH);
    assert_int_equal(((Edge__V1__Upstream *)m)->retries, 3);
    edge_pb_free(m);
    json_decref(j);
}

static void
test_invalid_utf8(void **state)
{
    Edge__V1__Api api = EDGE__V1__API__INIT;
    api.name = "ok";
    api.description = "bad \xff\xfe byte";
    json_t *j = ctl_json_from_message(&api.base);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "description")), "bad ?? byte");
    json_decref(j);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route),
        cmocka_unit_test(test_upstream_enum),
        cmocka_unit_test(test_stage_map),
        cmocka_unit_test(test_bytes_repeated_strings),
        cmocka_unit_test(test_uint64_and_status),
        cmocka_unit_test(test_list_and_empty),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_invalid_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
