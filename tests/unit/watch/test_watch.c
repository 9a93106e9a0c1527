/* The watch's incremental configuration against a real store: after each of hundreds of
 * random mutations through the store API, the configuration the watch maintains from the
 * change log must equal a fresh cp_store_load_config() byte for byte, and the delta it packed
 * must bring the previous configuration to the new one. */
#include "watch_test.h"

#include <openssl/sha.h>

#define STEPS 600

static const char *const APIS[] = {"a0", "a1", "a2"};
static const char *const UPSTREAMS[] = {"u0", "u1", "u2"};
static const char *const STAGES[] = {"s0", "s1"};
static const char *const PLANS[] = {"p0", "p1", "p2"};
static const char *const KEYS[] = {"k0", "k1", "k2", "k3", "k4", "k5"};
static const char *const HOSTS[] = {"*", "h0.example.com", "h1.example.com"};
static const char *const BASES[] = {"", "/v1"};

#define PICK(arr) (arr[(size_t)rand() % (sizeof(arr) / sizeof(arr[0]))])

static unsigned secret_counter;

static void
random_upstream(struct cp_store *st, bool update)
{
    struct cp_store_err err = {0};
    Edge__V1__Upstream in = EDGE__V1__UPSTREAM__INIT;
    Edge__V1__Target t[3], *ts[3];
    char hosts[3][32];
    size_t n = (size_t)rand() % 3 + 1;

    for (size_t i = 0; i < n; i++) {
        edge__v1__target__init(&t[i]);
        (void)snprintf(hosts[i], sizeof(hosts[i]), "10.0.0.%d", rand() % 250 + 1);
        t[i].host = hosts[i];
        t[i].port = (uint32_t)(8000 + rand() % 10);
        t[i].weight = 1;
        ts[i] = &t[i];
    }
    in.name = (char *)PICK(UPSTREAMS);
    in.targets = ts;
    in.n_targets = n;
    in.connect_timeout_ms = 1000 + (uint32_t)(rand() % 3);
    in.timeout_ms = 30000;
    in.pool_size = 64;
    if (update)
        (void)cp_store_upstream_update(st, "t", &in, NULL, &err);
    else
        (void)cp_store_upstream_create(st, "t", &in, NULL, &err);
}

static void
random_route(struct cp_store *st)
{
    struct cp_store_err err = {0};
    Edge__V1__Route in = EDGE__V1__ROUTE__INIT;
    Edge__V1__Integration ig = EDGE__V1__INTEGRATION__INIT;
    char path[32];

    (void)snprintf(path, sizeof(path), "/p%d", rand() % 6);
    ig.upstream = (char *)PICK(UPSTREAMS);
    in.api = (char *)PICK(APIS);
    in.method = rand() % 2 ? "GET" : "POST";
    in.path = path;
    in.integration = &ig;
    (void)cp_store_route_create(st, "t", &in, NULL, &err);
}

static void
random_route_delete(struct cp_store *st)
{
    struct cp_store_err err = {0};
    Edge__V1__ListRoutesResponse *l = NULL;
    const char *api = PICK(APIS);

    if (cp_store_route_list(st, api, &l, &err) == 0 && l->n_routes)
        (void)cp_store_route_delete(st, "t", api, l->routes[(size_t)rand() % l->n_routes]->id, NULL,
                                    &err);
    edge_pb_free(l);
}

/* Points a stage at a random deployment of its API, with random variables, throttle and
 * canary (another random deployment). */
static void
random_stage_update(struct cp_store *st)
{
    struct cp_store_err err = {0};
    Edge__V1__ListDeploymentsResponse *l = NULL;
    Edge__V1__Stage *cur = NULL;
    const char *api = PICK(APIS), *stage = PICK(STAGES);

    if (cp_store_stage_get(st, api, stage, &cur, &err) != 0 ||
        cp_store_deployment_list(st, api, &l, &err) != 0 || l->n_deployments == 0) {
        edge_pb_free(cur);
        edge_pb_free(l);
        return;
    }
    Edge__V1__Stage in = EDGE__V1__STAGE__INIT;
    Edge__V1__Stage__VariablesEntry v[2], *vs[2];
    Edge__V1__Canary canary = EDGE__V1__CANARY__INIT;
    char val[2][16];
    size_t nv = (size_t)rand() % 3;
    static const char *const names[] = {"alpha", "beta"};

    for (size_t i = 0; i < nv; i++) {
        edge__v1__stage__variables_entry__init(&v[i]);
        v[i].key = (char *)names[i];
        (void)snprintf(val[i], sizeof(val[i]), "v%d", rand() % 4);
        v[i].value = val[i];
        vs[i] = &v[i];
    }
    in.api = (char *)api;
    in.name = (char *)stage;
    in.deployment_id = l->deployments[(size_t)rand() % l->n_deployments]->id;
    in.variables = vs;
    in.n_variables = nv;
    in.description = rand() % 2 ? "x" : "y";
    if (rand() % 2) {
        canary.deployment_id = l->deployments[(size_t)rand() % l->n_deployments]->id;
        canary.percent = 10;
        in.canary = &canary;
    }
    (void)cp_store_stage_update(st, "t", &in, NULL, &err);
    edge_pb_free(cur);
    edge_pb_free(l);
}

static void
random_plan(struct cp_store *st, bool update)
{
    struct cp_store_err err = {0};
    Edge__V1__UsagePlan in = EDGE__V1__USAGE_PLAN__INIT;
    Edge__V1__PlanStage ps = EDGE__V1__PLAN_STAGE__INIT;
    Edge__V1__PlanStage *pss[] = {&ps};
    Edge__V1__Quota q = EDGE__V1__QUOTA__INIT;

    in.name = (char *)PICK(PLANS);
    in.description = rand() % 2 ? "d1" : "d2";
    q.limit = (uint64_t)(100 + rand() % 3);
    q.period = EDGE__V1__QUOTA_PERIOD__QUOTA_PERIOD_DAY;
    in.quota = &q;
    if (rand() % 2) {
        ps.api = (char *)PICK(APIS);
        ps.stage = (char *)PICK(STAGES);
        in.stages = pss;
        in.n_stages = 1;
    }
    if (update)
        (void)cp_store_plan_update(st, "t", &in, NULL, &err);
    else
        (void)cp_store_plan_create(st, "t", &in, NULL, &err);
}

static void
next_secret(uint8_t h[32], char prefix[9])
{
    char secret[32];
    (void)snprintf(secret, sizeof(secret), "secret-%u", secret_counter++);
    (void)SHA256((const unsigned char *)secret, strlen(secret), h);
    (void)snprintf(prefix, 9, "%02x%02x%02x%02x", h[0], h[1], h[2], h[3]);
}

static void
random_key(struct cp_store *st)
{
    struct cp_store_err err = {0};
    Edge__V1__ApiKey in = EDGE__V1__API_KEY__INIT;
    char *plans[1];
    uint8_t h[32];
    char prefix[9];

    next_secret(h, prefix);
    in.name = (char *)PICK(KEYS);
    in.enabled = rand() % 4 != 0;
    if (rand() % 2) {
        plans[0] = (char *)PICK(PLANS);
        in.plans = plans;
        in.n_plans = 1;
    }
    (void)cp_store_key_create(st, "t", &in, h, prefix, NULL, &err);
}

static void
random_bulk_keys(struct cp_store *st)
{
    struct cp_store_err err = {0};
    Edge__V1__ApiKey in[4], *ins[4];
    uint8_t h[4][32];
    char prefix[4][9], names[4][32];
    const char *prefixes[4];

    for (size_t i = 0; i < 4; i++) {
        edge__v1__api_key__init(&in[i]);
        (void)snprintf(names[i], sizeof(names[i]), "bulk-%u", secret_counter);
        next_secret(h[i], prefix[i]);
        in[i].name = names[i];
        in[i].enabled = true;
        ins[i] = &in[i];
        prefixes[i] = prefix[i];
    }
    (void)cp_store_key_create_bulk(st, "t", ins, (const uint8_t(*)[32])h, prefixes, 4, NULL, &err);
}

static void
mutate(struct cp_store *st)
{
    struct cp_store_err err = {0};
    int op = rand() % 26;

    switch (op) {
    case 0: {
        Edge__V1__Api in = EDGE__V1__API__INIT;
        in.name = (char *)PICK(APIS);
        in.description = "api";
        (void)cp_store_api_create(st, "t", &in, NULL, &err);
        break;
    }
    case 1: {
        Edge__V1__Api in = EDGE__V1__API__INIT;
        in.name = (char *)PICK(APIS);
        in.description = rand() % 2 ? "one" : "two";
        (void)cp_store_api_update(st, "t", &in, NULL, &err);
        break;
    }
    case 2:
        if (rand() % 3 == 0)
            (void)cp_store_api_delete(st, "t", PICK(APIS), NULL, &err);
        break;
    case 3:
        random_upstream(st, false);
        break;
    case 4:
        random_upstream(st, true);
        break;
    case 5:
        (void)cp_store_upstream_delete(st, "t", PICK(UPSTREAMS), NULL, &err);
        break;
    case 6:
    case 7:
        random_route(st);
        break;
    case 8:
        random_route_delete(st);
        break;
    case 9:
    case 10:
        (void)cp_store_deployment_create(st, "t", PICK(APIS), PICK(STAGES), "dep", NULL, &err);
        break;
    case 11:
    case 12:
        random_stage_update(st);
        break;
    case 13:
        (void)cp_store_stage_delete(st, "t", PICK(APIS), PICK(STAGES), NULL, &err);
        break;
    case 14: {
        Edge__V1__DomainMapping in = EDGE__V1__DOMAIN_MAPPING__INIT;
        in.host = (char *)PICK(HOSTS);
        in.base_path = (char *)PICK(BASES);
        in.api = (char *)PICK(APIS);
        in.stage = (char *)PICK(STAGES);
        (void)cp_store_domain_create(st, "t", &in, NULL, &err);
        break;
    }
    case 15:
        (void)cp_store_domain_delete(st, "t", PICK(HOSTS), PICK(BASES), NULL, &err);
        break;
    case 16:
        random_plan(st, false);
        break;
    case 17:
        random_plan(st, true);
        break;
    case 18:
        (void)cp_store_plan_delete(st, "t", PICK(PLANS), rand() % 2, NULL, &err);
        break;
    case 19:
    case 20:
        random_key(st);
        break;
    case 21:
        (void)cp_store_key_set_enabled(st, "t", PICK(KEYS), rand() % 2, NULL, &err);
        break;
    case 22: {
        uint8_t h[32];
        char prefix[9];
        next_secret(h, prefix);
        (void)cp_store_key_rotate(st, "t", PICK(KEYS), h, prefix, NULL, &err);
        break;
    }
    case 23:
        (void)cp_store_key_delete(st, "t", PICK(KEYS), NULL, &err);
        break;
    case 24:
        (void)cp_store_plan_key(st, "t", PICK(PLANS), PICK(KEYS), rand() % 2, NULL, &err);
        break;
    case 25:
        random_bulk_keys(st);
        break;
    }
}

static void
model_of_store(struct cp_store *st, struct model *m)
{
    Edge__V1__ConfigUpdate *u = NULL;

    assert_int_equal(cp_store_load_config(st, &u), 0);
    model_done(m);
    m->r = calloc(u->n_put ? u->n_put : 1, sizeof(*m->r));
    for (size_t i = 0; i < u->n_put; i++)
        m->r[m->n++] = model_res_of(u->put[i]);
    m->revision = u->revision;
    edge_pb_free(u);
}

static void
test_property(void **state)
{
    struct fixture *f = *state;
    struct cp_watch_config c = {0};
    struct model want = {0}, applied = {0};
    unsigned moved = 0, total_changes = 0;

    srand(12345);
    assert_int_equal(cp_watch_config_refresh(&c, f->st, 1, NULL, NULL), 2);
    model_of_store(f->st, &applied);
    for (int step = 0; step < STEPS; step++) {
        grpc_slice delta;
        size_t changes = 0;

        mutate(f->st);
        int r = cp_watch_config_refresh(&c, f->st, 3, &delta, &changes);
        assert_true(r == 0 || r == 1);
        model_of_store(f->st, &want);
        model_assert_config(&want, &c);
        if (r == 1) {
            Edge__V1__ConfigUpdate *u = unpack_slice(delta);
            assert_false(u->full);
            assert_int_equal(u->nodes_connected, 3);
            assert_string_equal(u->store_id, cp_store_id(f->st));
            assert_int_equal(u->n_put + u->n_remove, changes);
            model_apply(&applied, u);
            edge__v1__config_update__free_unpacked(u, NULL);
            grpc_slice_unref(delta);
            moved++;
            total_changes += (unsigned)changes;
        }
        /* The delta leads from the previous configuration to exactly the new one. */
        model_assert_config(&applied, &c);
        if (step % 50 == 0) {
            grpc_slice full = cp_watch_config_pack_full(&c, 2);
            Edge__V1__ConfigUpdate *u = unpack_slice(full);
            struct model from_full = {0};
            assert_true(u->full);
            assert_int_equal(u->nodes_connected, 2);
            model_apply(&from_full, u);
            model_assert_config(&from_full, &c);
            model_done(&from_full);
            edge__v1__config_update__free_unpacked(u, NULL);
            grpc_slice_unref(full);
        }
    }
    /* Everything went through the change log: no fallback to a full reload. */
    assert_int_equal(c.full_loads, 1);
    print_message("%u revisions, %u resource changes, %zu resources at the end\n", moved,
                  total_changes, c.n);
    assert_true(moved > STEPS / 3);
    model_done(&want);
    model_done(&applied);
    cp_watch_config_done(&c);
}

/* A resource created and deleted before the watch looks (two revisions, one refresh) is
 * neither put nor removed. */
static void
test_noop_changes(void **state)
{
    struct fixture *f = *state;
    struct cp_watch_config c = {0};
    struct cp_store_err err = {0};
    grpc_slice delta;
    size_t changes = 99;

    make_api(f->st, "x");
    assert_int_equal(cp_watch_config_refresh(&c, f->st, 0, NULL, NULL), 2);
    make_upstream(f->st, "gone");
    must(cp_store_upstream_delete(f->st, "t", "gone", NULL, &err), &err);
    assert_int_equal(cp_watch_config_refresh(&c, f->st, 0, &delta, &changes), 1);
    Edge__V1__ConfigUpdate *u = unpack_slice(delta);
    assert_int_equal(u->n_remove, 0);
    assert_int_equal(u->n_put, 0);
    assert_int_equal(changes, 0);
    edge__v1__config_update__free_unpacked(u, NULL);
    grpc_slice_unref(delta);
    /* Nothing moved: nothing to do. */
    assert_int_equal(cp_watch_config_refresh(&c, f->st, 0, &delta, &changes), 0);
    cp_watch_config_done(&c);
}

/* More changes than CP_WATCH_MAX_CHANGES since the last refresh: one full reload and a diff,
 * still a correct delta. */
static void
test_overflow_reloads(void **state)
{
    struct fixture *f = *state;
    struct cp_watch_config c = {0};
    struct cp_store_err err = {0};
    struct model applied = {0}, want = {0};
    size_t n = CP_WATCH_MAX_CHANGES + 10;
    Edge__V1__ApiKey *in = calloc(n, sizeof(*in)), **ins = calloc(n, sizeof(*ins));
    uint8_t(*h)[32] = calloc(n, sizeof(*h));
    char(*names)[16] = calloc(n, sizeof(*names));
    const char **prefixes = calloc(n, sizeof(*prefixes));

    assert_int_equal(cp_watch_config_refresh(&c, f->st, 0, NULL, NULL), 2);
    model_of_store(f->st, &applied);
    for (size_t i = 0; i < n; i++) {
        edge__v1__api_key__init(&in[i]);
        (void)snprintf(names[i], sizeof(names[i]), "o%zu", i);
        memcpy(h[i], &i, sizeof(i));
        h[i][31] = 0xee;
        in[i].name = names[i];
        ins[i] = &in[i];
        prefixes[i] = "pppppppp";
    }
    must(
        cp_store_key_create_bulk(f->st, "t", ins, (const uint8_t(*)[32])h, prefixes, n, NULL, &err),
        &err);
    grpc_slice delta;
    size_t changes = 0;
    assert_int_equal(cp_watch_config_refresh(&c, f->st, 0, &delta, &changes), 1);
    assert_int_equal(c.full_loads, 2);
    assert_int_equal(changes, n);
    Edge__V1__ConfigUpdate *u = unpack_slice(delta);
    model_apply(&applied, u);
    edge__v1__config_update__free_unpacked(u, NULL);
    grpc_slice_unref(delta);
    model_of_store(f->st, &want);
    model_assert_config(&want, &c);
    model_assert_config(&applied, &c);
    /* And the next change is incremental again. */
    must(cp_store_key_set_enabled(f->st, "t", "o7", true, NULL, &err), &err);
    assert_int_equal(cp_watch_config_refresh(&c, f->st, 0, &delta, &changes), 1);
    assert_int_equal(changes, 1);
    assert_int_equal(c.full_loads, 2);
    grpc_slice_unref(delta);
    model_of_store(f->st, &want);
    model_assert_config(&want, &c);
    model_done(&applied);
    model_done(&want);
    cp_watch_config_done(&c);
    free(in);
    free(ins);
    free(h);
    free(names);
    free(prefixes);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_property, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_noop_changes, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_overflow_reloads, fixture_setup, fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
