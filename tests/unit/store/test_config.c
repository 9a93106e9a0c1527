/* cp_store_load_config: the whole configuration, complete and sorted by (type, id). */
#include "store_test.h"

#include <openssl/sha.h>

static void
populate(struct cp_store *st, char **ret_key_id, char **ret_dep_id)
{
    struct cp_store_err e = {0};

    make_api(st, "zoo");
    make_api(st, "pets");
    make_upstream(st, "web");
    make_upstream(st, "backend");
    free(make_route(st, "pets", "GET", "/pets", "backend"));
    free(make_route(st, "pets", "GET", "/pets/{id}", "web"));
    free(make_route(st, "zoo", "ANY", "/{proxy+}", "web"));

    Edge__V1__Deployment *old = NULL, *d = NULL, *z = NULL;
    must(cp_store_deployment_create(st, "admin", "pets", "prod", "old", &old, &e), &e);
    must(cp_store_deployment_create(st, "admin", "pets", "prod", "new", &d, &e), &e);
    must(cp_store_deployment_create(st, "admin", "zoo", "dev", "", &z, &e), &e);
    *ret_dep_id = strdup(d->id);
    edge_pb_free(old);
    edge_pb_free(d);
    edge_pb_free(z);

    Edge__V1__Stage beta = EDGE__V1__STAGE__INIT;
    beta.api = "pets";
    beta.name = "beta";
    must(cp_store_stage_create(st, "admin", &beta, NULL, &e), &e);

    Edge__V1__DomainMapping dm = EDGE__V1__DOMAIN_MAPPING__INIT;
    dm.host = "api.example.com";
    dm.base_path = "/v1";
    dm.api = "pets";
    dm.stage = "prod";
    must(cp_store_domain_create(st, "admin", &dm, NULL, &e), &e);
    dm.host = "*";
    dm.base_path = "";
    dm.api = "zoo";
    dm.stage = "dev";
    must(cp_store_domain_create(st, "admin", &dm, NULL, &e), &e);

    Edge__V1__UsagePlan plan = EDGE__V1__USAGE_PLAN__INIT;
    Edge__V1__Throttle th = EDGE__V1__THROTTLE__INIT;
    Edge__V1__Quota q = EDGE__V1__QUOTA__INIT;
    Edge__V1__PlanStage ps = EDGE__V1__PLAN_STAGE__INIT;
    Edge__V1__PlanStage *pss[] = {&ps};
    Edge__V1__RouteThrottle rt = EDGE__V1__ROUTE_THROTTLE__INIT;
    Edge__V1__Throttle rth = EDGE__V1__THROTTLE__INIT;
    Edge__V1__RouteThrottle *rts[] = {&rt};
    th.rate = 10;
    th.burst = 20;
    q.limit = 1000;
    q.period = EDGE__V1__QUOTA_PERIOD__QUOTA_PERIOD_DAY;
    ps.api = "pets";
    ps.stage = "prod";
    rt.api = "pets";
    rt.stage = "prod";
    rt.method = "GET";
    rt.path = "/pets";
    rth.rate = 1.5;
    rth.burst = 3;
    rt.throttle = &rth;
    plan.name = "gold";
    plan.throttle = &th;
    plan.quota = &q;
    plan.stages = pss;
    plan.n_stages = 1;
    plan.route_throttles = rts;
    plan.n_route_throttles = 1;
    Edge__V1__UsagePlan *pout = NULL;
    must(cp_store_plan_create(st, "admin", &plan, &pout, &e), &e);
    assert_int_equal(pout->n_route_throttles, 1);
    edge_pb_free(pout);
    plan.name = "free";
    plan.quota = NULL;
    plan.n_route_throttles = 0;
    /* A key may be in one plan per API stage: this second plan covers none. */
    plan.n_stages = 0;
    must(cp_store_plan_create(st, "admin", &plan, NULL, &e), &e);

    unsigned char hash[32];
    SHA256((const unsigned char *)"secret-1", 8, hash);
    Edge__V1__ApiKey key = EDGE__V1__API_KEY__INIT;
    char *plans[] = {"gold", "free"};
    key.name = "alice";
    key.enabled = true;
    key.plans = plans;
    key.n_plans = 2;
    Edge__V1__ApiKey *kout = NULL;
    must(cp_store_key_create(st, "admin", &key, hash, "secr", &kout, &e), &e);
    assert_int_equal(kout->secret_sha256.len, 0); /* never back on the Admin side */
    *ret_key_id = strdup(kout->id);
    edge_pb_free(kout);
    /* The same secret twice, an unknown plan: refused, nothing left behind. */
    assert_int_equal(cp_store_key_create(st, "admin", &key, hash, "secr", NULL, &e), -EEXIST);
    SHA256((const unsigned char *)"secret-2", 8, hash);
    plans[1] = "nope";
    assert_int_equal(cp_store_key_create(st, "admin", &key, hash, "secr", NULL, &e), -ENOENT);
    assert_non_null(strstr(e.message, "key.plans[1]"));
}

static void
test_load_config(void **state)
{
    struct fixture *f = *state;
    char *key_id, *dep_id;
    Edge__V1__ConfigUpdate *u = NULL;

    assert_int_equal(cp_store_load_config(f->st, &u), 0);
    assert_int_equal(u->n_put, 0);
    assert_true(u->full);
    assert_int_equal(u->revision, 0);
    edge_pb_free(u);

    populate(f->st, &key_id, &dep_id);
    assert_int_equal(cp_store_load_config(f->st, &u), 0);
    assert_int_equal(u->revision, cp_store_revision(f->st));
    assert_string_equal(u->store_id, cp_store_id(f->st));
    assert_true(u->full);

    char stage_ids[3][64];
    (void)snprintf(stage_ids[0], 64, "pets/beta");
    (void)snprintf(stage_ids[1], 64, "pets/prod");
    (void)snprintf(stage_ids[2], 64, "zoo/dev");
    struct {
        Edge__V1__ResourceType type;
        const char *id;
    } want[] = {
        {EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_API, "pets"},
        {EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_API, "zoo"},
        {EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_UPSTREAM, "backend"},
        {EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_UPSTREAM, "web"},
        {EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_DEPLOYMENT, NULL}, /* two: pets/new, zoo */
        {EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_DEPLOYMENT, NULL},
        {EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_STAGE, stage_ids[0]},
        {EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_STAGE, stage_ids[1]},
        {EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_STAGE, stage_ids[2]},
        {EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_DOMAIN, "* "},
        {EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_DOMAIN, "api.example.com /v1"},
        {EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_KEY, key_id},
        {EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_PLAN, "free"},
        {EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_PLAN, "gold"},
    };
    size_t n = sizeof(want) / sizeof(want[0]);
    assert_int_equal(u->n_put, n);
    bool saw_dep = false;
    for (size_t i = 0; i < n; i++) {
        Edge__V1__Resource *r = u->put[i];
        assert_int_equal(r->type, want[i].type);
        if (want[i].id)
            assert_string_equal(r->id, want[i].id);
        if (i > 0) {
            Edge__V1__Resource *p = u->put[i - 1];
            assert_true(p->type < r->type || (p->type == r->type && strcmp(p->id, r->id) < 0));
        }
        switch (r->type) {
        case EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_API:
            assert_int_equal(r->body_case, EDGE__V1__RESOURCE__BODY_API);
            assert_string_equal(r->api->name, r->id);
            break;
        case EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_UPSTREAM:
            assert_int_equal(r->body_case, EDGE__V1__RESOURCE__BODY_UPSTREAM);
            assert_int_equal(r->upstream->n_targets, 1);
            break;
        case EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_DEPLOYMENT:
            assert_int_equal(r->body_case, EDGE__V1__RESOURCE__BODY_DEPLOYMENT);
            assert_string_equal(r->deployment->id, r->id);
            assert_true(r->deployment->n_routes > 0);
            if (strcmp(r->id, dep_id) == 0) {
                saw_dep = true;
                assert_int_equal(r->deployment->n_routes, 2);
            }
            break;
        case EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_STAGE:
            assert_int_equal(r->body_case, EDGE__V1__RESOURCE__BODY_STAGE);
            break;
        case EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_DOMAIN:
            assert_int_equal(r->body_case, EDGE__V1__RESOURCE__BODY_DOMAIN);
            break;
        case EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_KEY:
            assert_int_equal(r->body_case, EDGE__V1__RESOURCE__BODY_KEY);
            assert_int_equal(r->key->secret_sha256.len, 32);
            assert_int_equal(r->key->n_plans, 2);
            assert_string_equal(r->key->plans[0], "free");
            assert_string_equal(r->key->prefix, "secr");
            assert_true(r->key->enabled);
            break;
        case EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_PLAN:
            assert_int_equal(r->body_case, EDGE__V1__RESOURCE__BODY_PLAN);
            if (strcmp(r->id, "gold") == 0) {
                assert_non_null(r->plan->quota);
                assert_int_equal(r->plan->quota->limit, 1000);
                assert_int_equal(r->plan->n_stages, 1);
                assert_string_equal(r->plan->stages[0]->stage, "prod");
                assert_int_equal(r->plan->n_route_throttles, 1);
                assert_string_equal(r->plan->route_throttles[0]->path, "/pets");
                assert_true(r->plan->route_throttles[0]->throttle->rate == 1.5);
            } else {
                assert_null(r->plan->quota);
            }
            break;
        default:
            fail_msg("unexpected type %d", r->type);
        }
    }
    assert_true(saw_dep); /* and the replaced "old" deployment is not there */
    assert_int_equal(u->put[7]->stage->deployment_id[0], 'd');

    /* It packs and unpacks (what the watch stream sends). */
    size_t len = edge__v1__config_update__get_packed_size(u);
    uint8_t *buf = malloc(len);
    edge__v1__config_update__pack(u, buf);
    Edge__V1__ConfigUpdate *back = edge__v1__config_update__unpack(NULL, len, buf);
    assert_non_null(back);
    assert_int_equal(back->n_put, n);
    edge_pb_free(back);
    free(buf);
    edge_pb_free(u);
    free(key_id);
    free(dep_id);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_load_config, fixture_setup, fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
