/* Deployments, stages and domain mappings. */
#include "store_test.h"

static void
setup_api(struct cp_store *st)
{
    make_api(st, "pets");
    make_upstream(st, "backend");
}

static void
test_deployment(void **state)
{
    struct fixture *f = *state;
    struct cp_store_err e = {0};
    Edge__V1__Deployment *d = NULL;

    assert_int_equal(cp_store_deployment_create(f->st, "admin", "pets", "prod", "", &d, &e),
                     -ENOENT);
    setup_api(f->st);
    assert_int_equal(cp_store_deployment_create(f->st, "admin", "pets", "prod", "", &d, &e),
                     -ENODATA);
    assert_non_null(strstr(e.message, "no routes"));
    char *r1 = make_route(f->st, "pets", "GET", "/pets", "backend");
    free(make_route(f->st, "pets", "GET", "/pets/{id}", "backend"));

    uint64_t rev0 = cp_store_revision(f->st);
    assert_int_equal(
        cp_store_deployment_create(f->st, "admin", "pets", "prod", "first cut", &d, &e), 0);
    assert_int_equal(cp_store_revision(f->st), rev0 + 1);
    assert_int_equal(d->revision, rev0 + 1);
    assert_memory_equal(d->id, "d-", 2);
    assert_string_equal(d->api, "pets");
    assert_string_equal(d->description, "first cut");
    assert_int_equal(d->n_routes, 2);
    assert_string_equal(d->routes[0]->path, "/pets");
    assert_string_equal(d->routes[0]->integration->upstream, "backend");

    /* The stage was created and points at it. */
    Edge__V1__Stage *g = NULL;
    assert_int_equal(cp_store_stage_get(f->st, "pets", "prod", &g, &e), 0);
    assert_string_equal(g->deployment_id, d->id);
    edge_pb_free(g);

    /* Frozen: later route changes do not touch it. */
    uint64_t rev;
    assert_int_equal(cp_store_route_delete(f->st, "admin", "pets", r1, &rev, &e), 0);
    Edge__V1__Deployment *again = NULL;
    assert_int_equal(cp_store_deployment_get(f->st, "pets", d->id, &again, &e), 0);
    assert_int_equal(again->n_routes, 2);
    edge_pb_free(again);

    /* A second deployment repoints the existing stage. */
    Edge__V1__Deployment *d2 = NULL;
    assert_int_equal(cp_store_deployment_create(f->st, "admin", "pets", "prod", "", &d2, &e), 0);
    assert_int_equal(d2->n_routes, 1);
    assert_int_equal(cp_store_stage_get(f->st, "pets", "prod", &g, &e), 0);
    assert_string_equal(g->deployment_id, d2->id);
    edge_pb_free(g);

    Edge__V1__ListDeploymentsResponse *l = NULL;
    assert_int_equal(cp_store_deployment_list(f->st, "pets", &l, &e), 0);
    assert_int_equal(l->n_deployments, 2);
    assert_string_equal(l->deployments[0]->id, d2->id); /* newest first */
    assert_int_equal(l->deployments[0]->n_routes, 0);   /* routes left out */
    edge_pb_free(l);

    assert_int_equal(cp_store_deployment_get(f->st, "pets", "d-000000000000", &again, &e), -ENOENT);
    make_api(f->st, "other");
    assert_int_equal(cp_store_deployment_get(f->st, "other", d->id, &again, &e), -ENOENT);

    Edge__V1__ListAuditResponse *al = NULL;
    assert_int_equal(cp_store_audit_list(f->st, 1, 0, &al, &e), 0);
    assert_string_equal(al->entries[0]->action, "create");
    edge_pb_free(al);
    assert_int_equal(cp_store_audit_list(f->st, 2, 0, &al, &e), 0);
    assert_string_equal(al->entries[1]->action, "deploy");
    assert_string_equal(al->entries[1]->object_type, "deployment");
    edge_pb_free(al);
    edge_pb_free(d);
    edge_pb_free(d2);
    free(r1);
}

static Edge__V1__Stage *
new_stage(const char *name)
{
    Edge__V1__Stage *g = edge_pb_new(&edge__v1__stage__descriptor);
    g->api = edge_pb_strdup("pets");
    g->name = edge_pb_strdup(name);
    return g;
}

static void
add_var(Edge__V1__Stage *g, const char *k, const char *v)
{
    Edge__V1__Stage__VariablesEntry *e = edge_pb_new(&edge__v1__stage__variables_entry__descriptor);
    e->key = edge_pb_strdup(k);
    e->value = edge_pb_strdup(v);
    edge_pb_append((void ***)&g->variables, &g->n_variables, e);
}

static void
test_stage_crud(void **state)
{
    struct fixture *f = *state;
    struct cp_store_err e = {0};
    Edge__V1__Stage *in = new_stage("dev"), *out = NULL;

    assert_int_equal(cp_store_stage_create(f->st, "admin", in, &out, &e), -ENOENT);
    setup_api(f->st);
    free(make_route(f->st, "pets", "GET", "/pets", "backend"));
    Edge__V1__Deployment *d = NULL;
    must(cp_store_deployment_create(f->st, "admin", "pets", "prod", "", &d, &e), &e);

    add_var(in, "zeta", "1");
    add_var(in, "alpha", "two");
    in->throttle = edge_pb_new(&edge__v1__throttle__descriptor);
    in->throttle->rate = 5;
    in->throttle->burst = 10;
    in->canary = edge_pb_new(&edge__v1__canary__descriptor);
    in->canary->deployment_id = edge_pb_strdup(d->id);
    in->canary->percent = 12.5;
    in->canary->sticky = true;
    in->description = edge_pb_strdup("development");
    in->access_log = true;
    assert_int_equal(cp_store_stage_create(f->st, "admin", in, &out, &e), 0);
    assert_string_equal(out->name, "dev");
    assert_string_equal(out->deployment_id, "");
    assert_int_equal(out->n_variables, 2);
    assert_string_equal(out->variables[0]->key, "alpha"); /* sorted */
    assert_string_equal(out->variables[0]->value, "two");
    assert_non_null(out->throttle);
    assert_int_equal(out->throttle->burst, 10);
    assert_non_null(out->canary);
    assert_string_equal(out->canary->deployment_id, d->id);
    assert_true(out->canary->percent == 12.5);
    assert_true(out->canary->sticky);
    assert_string_equal(out->description, "development");
    assert_true(out->access_log);
    int64_t created = out->created_at;
    edge_pb_free(out);

    assert_int_equal(cp_store_stage_create(f->st, "admin", in, &out, &e), -EEXIST);
    assert_non_null(strstr(e.message, "stage 'dev' of api 'pets' already exists"));

    /* Update replaces whole; a deployment of another API or none at all is refused. */
    Edge__V1__Stage *upd = new_stage("dev");
    upd->deployment_id = edge_pb_strdup("d-000000000000");
    assert_int_equal(cp_store_stage_update(f->st, "admin", upd, &out, &e), -ENOENT);
    assert_non_null(strstr(e.message, "stage.deployment_id"));
    free(upd->deployment_id);
    upd->deployment_id = edge_pb_strdup(d->id);
    assert_int_equal(cp_store_stage_update(f->st, "admin", upd, &out, &e), 0);
    assert_string_equal(out->deployment_id, d->id);
    assert_int_equal(out->n_variables, 0);
    assert_null(out->throttle);
    assert_null(out->canary);
    assert_int_equal(out->created_at, created);
    edge_pb_free(out);
    free(upd->name);
    upd->name = edge_pb_strdup("ghost");
    assert_int_equal(cp_store_stage_update(f->st, "admin", upd, &out, &e), -ENOENT);

    Edge__V1__ListStagesResponse *l = NULL;
    assert_int_equal(cp_store_stage_list(f->st, "pets", &l, &e), 0);
    assert_int_equal(l->n_stages, 2);
    assert_string_equal(l->stages[0]->name, "dev");
    assert_string_equal(l->stages[1]->name, "prod");
    edge_pb_free(l);

    uint64_t rev;
    assert_int_equal(cp_store_stage_delete(f->st, "admin", "pets", "dev", &rev, &e), 0);
    assert_int_equal(cp_store_stage_delete(f->st, "admin", "pets", "dev", &rev, &e), -ENOENT);
    edge_pb_free(in);
    edge_pb_free(upd);
    edge_pb_free(d);
}

/* Duplicate variable names fail on the second insert, after the stage row went in: the whole
 * write must roll back. */
static void
test_stage_rollback(void **state)
{
    struct fixture *f = *state;
    struct cp_store_err e = {0};
    Edge__V1__Stage *in = new_stage("dev"), *out = NULL;

    setup_api(f->st);
    uint64_t rev0 = cp_store_revision(f->st);
    add_var(in, "a", "1");
    add_var(in, "a", "2");
    assert_int_equal(cp_store_stage_create(f->st, "admin", in, &out, &e), -EINVAL);
    assert_non_null(strstr(e.message, "stage.variables"));
    assert_int_equal(cp_store_stage_get(f->st, "pets", "dev", &out, &e), -ENOENT);
    assert_int_equal(cp_store_revision(f->st), rev0);
    edge_pb_free(in);
}

static void
test_domains(void **state)
{
    struct fixture *f = *state;
    struct cp_store_err e = {0};
    Edge__V1__DomainMapping in = EDGE__V1__DOMAIN_MAPPING__INIT, *out = NULL;
    uint64_t rev;

    setup_api(f->st);
    free(make_route(f->st, "pets", "GET", "/pets", "backend"));
    in.host = "api.example.com";
    in.base_path = "/v1";
    in.api = "pets";
    in.stage = "prod";
    in.certificate = "main";
    assert_int_equal(cp_store_domain_create(f->st, "admin", &in, &out, &e), -ENOENT);
    assert_non_null(strstr(e.message, "stage 'prod' of api 'pets' not found"));
    Edge__V1__Deployment *d = NULL;
    must(cp_store_deployment_create(f->st, "admin", "pets", "prod", "", &d, &e), &e);
    edge_pb_free(d);

    assert_int_equal(cp_store_domain_create(f->st, "admin", &in, &out, &e), 0);
    assert_string_equal(out->host, "api.example.com");
    assert_string_equal(out->base_path, "/v1");
    assert_string_equal(out->api, "pets");
    assert_string_equal(out->stage, "prod");
    assert_string_equal(out->certificate, "main");
    assert_true(out->created_at > 0);
    edge_pb_free(out);
    assert_int_equal(cp_store_domain_create(f->st, "admin", &in, &out, &e), -EEXIST);
    in.host = "*";
    in.base_path = "";
    assert_int_equal(cp_store_domain_create(f->st, "admin", &in, &out, &e), 0);
    edge_pb_free(out);

    Edge__V1__ListDomainMappingsResponse *l = NULL;
    assert_int_equal(cp_store_domain_list(f->st, &l, &e), 0);
    assert_int_equal(l->n_mappings, 2);
    assert_string_equal(l->mappings[0]->host, "*");
    edge_pb_free(l);

    /* Mapped: neither the stage nor the API may go. */
    assert_int_equal(cp_store_stage_delete(f->st, "admin", "pets", "prod", &rev, &e), -EBUSY);
    assert_non_null(strstr(e.message, "domain mapping"));
    assert_int_equal(cp_store_api_delete(f->st, "admin", "pets", &rev, &e), -EBUSY);
    assert_non_null(strstr(e.message, "domain mapping"));

    assert_int_equal(cp_store_domain_delete(f->st, "admin", "*", "", &rev, &e), 0);
    assert_int_equal(cp_store_domain_delete(f->st, "admin", "*", "", &rev, &e), -ENOENT);
    assert_int_equal(cp_store_domain_delete(f->st, "admin", "api.example.com", "/v1", &rev, &e), 0);

    /* Now the API goes, with its routes, deployments and stages. */
    assert_int_equal(cp_store_api_delete(f->st, "admin", "pets", &rev, &e), 0);
    struct cp_store_counts c;
    assert_int_equal(cp_store_counts(f->st, &c, &e), 0);
    assert_int_equal(c.apis, 0);
    assert_int_equal(c.routes, 0);
    assert_int_equal(c.deployments, 0);
    assert_int_equal(c.stages, 0);
    assert_int_equal(c.upstreams, 1);
    assert_int_equal(cp_store_upstream_delete(f->st, "admin", "backend", &rev, &e), 0);
}

/* Rolling a stage back to a deployment whose upstream was deleted meanwhile is refused. */
static void
test_stage_stale_deployment(void **state)
{
    struct fixture *f = *state;
    struct cp_store_err e = {0};
    Edge__V1__Deployment *d1 = NULL, *d2 = NULL;
    uint64_t rev;

    setup_api(f->st);
    make_upstream(f->st, "spare");
    char *rid = make_route(f->st, "pets", "GET", "/pets", "backend");
    must(cp_store_deployment_create(f->st, "admin", "pets", "prod", "", &d1, &e), &e);
    Edge__V1__Route upd = EDGE__V1__ROUTE__INIT;
    Edge__V1__Integration ig = EDGE__V1__INTEGRATION__INIT;
    ig.upstream = "spare";
    upd.id = rid;
    upd.api = "pets";
    upd.method = "GET";
    upd.path = "/pets";
    upd.integration = &ig;
    must(cp_store_route_update(f->st, "admin", &upd, NULL, &e), &e);
    must(cp_store_deployment_create(f->st, "admin", "pets", "prod", "", &d2, &e), &e);
    must(cp_store_upstream_delete(f->st, "admin", "backend", &rev, &e), &e);

    Edge__V1__Stage *g = new_stage("prod");
    g->deployment_id = edge_pb_strdup(d1->id);
    assert_int_equal(cp_store_stage_update(f->st, "admin", g, NULL, &e), -ENODATA);
    assert_non_null(strstr(e.message, "upstream 'backend'"));
    free(g->deployment_id);
    g->deployment_id = edge_pb_strdup(d2->id);
    g->canary = edge_pb_new(&edge__v1__canary__descriptor);
    g->canary->deployment_id = edge_pb_strdup(d1->id);
    g->canary->percent = 10;
    assert_int_equal(cp_store_stage_update(f->st, "admin", g, NULL, &e), -ENODATA);
    assert_non_null(strstr(e.message, "stage.canary.deployment_id"));
    edge_pb_free(g->canary);
    g->canary = NULL;
    assert_int_equal(cp_store_stage_update(f->st, "admin", g, NULL, &e), 0);
    edge_pb_free(g);
    edge_pb_free(d1);
    edge_pb_free(d2);
    free(rid);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_deployment, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_stage_crud, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_stage_rollback, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_domains, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_stage_stale_deployment, fixture_setup,
                                        fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
