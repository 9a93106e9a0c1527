/* API keys, usage plans, plan membership (one plan per API stage) and usage rows. */
#include "store_test.h"

#include <openssl/sha.h>
#include <time.h>

static void
sha(const char *secret, uint8_t out[32])
{
    (void)SHA256((const unsigned char *)secret, strlen(secret), out);
}

/* API "pets" with stages prod and dev. */
static void
make_stages(struct cp_store *st)
{
    struct cp_store_err err = {0};
    Edge__V1__Deployment *d = NULL;

    make_api(st, "pets");
    make_upstream(st, "u1");
    free(make_route(st, "pets", "GET", "/pets", "u1"));
    must(cp_store_deployment_create(st, "test", "pets", "prod", "", &d, &err), &err);
    edge_pb_free(d);
    must(cp_store_deployment_create(st, "test", "pets", "dev", "", NULL, &err), &err);
}

static void
make_plan(struct cp_store *st, const char *name, const char *stage)
{
    struct cp_store_err err = {0};
    Edge__V1__UsagePlan in = EDGE__V1__USAGE_PLAN__INIT;
    Edge__V1__PlanStage ps = EDGE__V1__PLAN_STAGE__INIT;
    Edge__V1__PlanStage *pss[] = {&ps};
    Edge__V1__Quota q = EDGE__V1__QUOTA__INIT;

    in.name = (char *)name;
    q.limit = 100;
    q.period = EDGE__V1__QUOTA_PERIOD__QUOTA_PERIOD_DAY;
    in.quota = &q;
    if (stage) {
        ps.api = "pets";
        ps.stage = (char *)stage;
        in.stages = pss;
        in.n_stages = 1;
    }
    must(cp_store_plan_create(st, "test", &in, NULL, &err), &err);
}

/* Creates key name with secret and plans (NULL-terminated); returns its id (owned) or NULL
 * with *ret_r set on failure. */
static char *
try_key(struct cp_store *st, const char *name, const char *secret, const char *const *plans,
        int *ret_r, struct cp_store_err *err)
{
    Edge__V1__ApiKey in = EDGE__V1__API_KEY__INIT;
    Edge__V1__ApiKey *out = NULL;
    uint8_t h[32];
    char prefix[9];

    in.name = (char *)name;
    in.enabled = true;
    for (in.n_plans = 0; plans && plans[in.n_plans]; in.n_plans++)
        ;
    in.plans = (char **)plans;
    sha(secret, h);
    (void)snprintf(prefix, sizeof(prefix), "%s", secret);
    *ret_r = cp_store_key_create(st, "test", &in, h, prefix, &out, err);
    if (*ret_r < 0)
        return NULL;
    assert_int_equal(out->secret_sha256.len, 0);
    assert_string_equal(out->prefix, prefix);
    char *id = strdup(out->id);
    edge_pb_free(out);
    return id;
}

static char *
make_key(struct cp_store *st, const char *name, const char *secret, const char *const *plans)
{
    struct cp_store_err err = {0};
    int r;
    char *id = try_key(st, name, secret, plans, &r, &err);
    must(r, &err);
    return id;
}

/* The key's Resource in the Config snapshot, or NULL. */
static const Edge__V1__ApiKey *
snapshot_key(const Edge__V1__ConfigUpdate *u, const char *id)
{
    for (size_t i = 0; i < u->n_put; i++)
        if (u->put[i]->type == EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_KEY &&
            strcmp(u->put[i]->id, id) == 0)
            return u->put[i]->key;
    return NULL;
}

static void
test_create_hash_only(void **state)
{
    struct fixture *f = *state;
    struct cp_store_err err = {0};
    const char *secret = "ek_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    Edge__V1__ConfigUpdate *u = NULL;
    uint8_t h[32];
    int r;

    char *id = make_key(f->st, "alice", secret, NULL);
    assert_int_equal(strlen(id), 14);
    assert_memory_equal(id, "k-", 2);

    /* Names are unique; a secret is unique and the error does not say whose it is. */
    assert_null(try_key(f->st, "alice", "another-secret-of-20-chars", NULL, &r, &err));
    assert_int_equal(r, -EEXIST);
    assert_non_null(strstr(err.message, "key 'alice' already exists"));
    assert_null(try_key(f->st, "bob", secret, NULL, &r, &err));
    assert_int_equal(r, -EEXIST);
    assert_string_equal(err.message, "a key with that secret already exists");
    const char *unknown[] = {"nope", NULL};
    assert_null(try_key(f->st, "bob", "yet-another-secret-value", unknown, &r, &err));
    assert_int_equal(r, -ENOENT);
    assert_non_null(strstr(err.message, "plan 'nope' not found"));

    /* Get by id and by name, without the hash; the snapshot carries the hash. */
    Edge__V1__ApiKey *k = NULL;
    must(cp_store_key_get(f->st, "alice", &k, &err), &err);
    assert_string_equal(k->id, id);
    assert_int_equal(k->secret_sha256.len, 0);
    assert_true(k->enabled);
    edge_pb_free(k);
    must(cp_store_key_get(f->st, id, &k, &err), &err);
    assert_string_equal(k->name, "alice");
    edge_pb_free(k);
    assert_int_equal(cp_store_key_get(f->st, "carol", &k, &err), -ENOENT);
    assert_non_null(strstr(err.message, "key 'carol' not found"));

    must(cp_store_load_config(f->st, &u), &err);
    const Edge__V1__ApiKey *sk = snapshot_key(u, id);
    assert_non_null(sk);
    sha(secret, h);
    assert_int_equal(sk->secret_sha256.len, 32);
    assert_memory_equal(sk->secret_sha256.data, h, 32);
    edge_pb_free(u);

    /* The secret itself is nowhere in the database file. */
    cp_store_close(f->st);
    FILE *fp = fopen(f->path, "rb");
    assert_non_null(fp);
    char buf[65536];
    size_t got;
    while ((got = fread(buf, 1, sizeof(buf), fp)) > 0)
        assert_null(memmem(buf, got, secret + 8, 16));
    fclose(fp);
    char e[256];
    f->st = cp_store_open(f->path, e, sizeof(e));
    assert_non_null(f->st);
    free(id);
}

static void
test_rotate_enable_revoke(void **state)
{
    struct fixture *f = *state;
    struct cp_store_err err = {0};
    Edge__V1__ApiKey *k = NULL;
    Edge__V1__ConfigUpdate *u = NULL;
    uint8_t h[32];

    make_stages(f->st);
    make_plan(f->st, "gold", "prod");
    const char *plans[] = {"gold", NULL};
    char *id = make_key(f->st, "alice", "first-secret-value-0001", plans);
    free(make_key(f->st, "other", "other-secret-value-0001", NULL));

    uint64_t rev = cp_store_revision(f->st);
    sha("second-secret-value-002", h);
    must(cp_store_key_rotate(f->st, "test", "alice", h, "second-s", &k, &err), &err);
    assert_int_equal(cp_store_revision(f->st), rev + 1);
    assert_string_equal(k->id, id);
    assert_string_equal(k->prefix, "second-s");
    assert_int_equal(k->n_plans, 1);
    assert_string_equal(k->plans[0], "gold");
    assert_int_equal(k->secret_sha256.len, 0);
    edge_pb_free(k);
    must(cp_store_load_config(f->st, &u), &err);
    assert_memory_equal(snapshot_key(u, id)->secret_sha256.data, h, 32);
    edge_pb_free(u);
    /* Rotating onto another key's secret is refused. */
    sha("other-secret-value-0001", h);
    assert_int_equal(cp_store_key_rotate(f->st, "test", id, h, "other-se", NULL, &err), -EEXIST);

    must(cp_store_key_set_enabled(f->st, "test", id, false, &k, &err), &err);
    assert_false(k->enabled);
    edge_pb_free(k);
    must(cp_store_key_set_enabled(f->st, "test", "alice", true, &k, &err), &err);
    assert_true(k->enabled);
    edge_pb_free(k);

    uint64_t del_rev = 0;
    must(cp_store_key_delete(f->st, "test", "alice", &del_rev, &err), &err);
    assert_int_equal(del_rev, cp_store_revision(f->st));
    assert_int_equal(cp_store_key_get(f->st, id, &k, &err), -ENOENT);
    assert_int_equal(cp_store_key_delete(f->st, "test", id, NULL, &err), -ENOENT);
    /* Its subscription went with it: the plan can be deleted without force. */
    must(cp_store_plan_delete(f->st, "test", "gold", false, NULL, &err), &err);
    free(id);
}

static void
test_plan_rules(void **state)
{
    struct fixture *f = *state;
    struct cp_store_err err = {0};
    Edge__V1__ApiKey *k = NULL;
    int r;

    make_stages(f->st);
    make_plan(f->st, "gold", "prod");
    make_plan(f->st, "silver", "prod");
    make_plan(f->st, "devplan", "dev");
    make_plan(f->st, "empty", NULL);

    /* Stage existence. */
    Edge__V1__UsagePlan in = EDGE__V1__USAGE_PLAN__INIT;
    Edge__V1__PlanStage ps = EDGE__V1__PLAN_STAGE__INIT;
    Edge__V1__PlanStage *pss[] = {&ps};
    in.name = "bad";
    ps.api = "pets";
    ps.stage = "nosuch";
    in.stages = pss;
    in.n_stages = 1;
    assert_int_equal(cp_store_plan_create(f->st, "test", &in, NULL, &err), -ENOENT);
    assert_non_null(strstr(err.message, "plan.stages[0]"));
    assert_non_null(strstr(err.message, "nosuch"));
    in.name = "gold";
    ps.stage = "dev";
    assert_int_equal(cp_store_plan_create(f->st, "test", &in, NULL, &err), -EEXIST);

    /* Two plans for one stage: refused at creation and at add-key. */
    const char *both[] = {"gold", "silver", NULL};
    assert_null(try_key(f->st, "alice", "alice-secret-value-0001", both, &r, &err));
    assert_int_equal(r, -EBUSY);
    assert_non_null(strstr(err.message, "pets/prod"));
    const char *ok[] = {"gold", "devplan", "empty", NULL};
    char *id = make_key(f->st, "alice", "alice-secret-value-0001", ok);
    assert_int_equal(cp_store_plan_key(f->st, "test", "silver", "alice", true, &k, &err), -EBUSY);
    assert_non_null(strstr(err.message, "'gold'"));
    assert_non_null(strstr(err.message, "'silver'"));
    /* Adding again is a no-op. */
    must(cp_store_plan_key(f->st, "test", "gold", id, true, &k, &err), &err);
    assert_int_equal(k->n_plans, 3);
    edge_pb_free(k);
    assert_int_equal(cp_store_plan_key(f->st, "test", "nope", id, true, &k, &err), -ENOENT);
    assert_int_equal(cp_store_plan_key(f->st, "test", "gold", "nokey", true, &k, &err), -ENOENT);

    /* An update that gives "empty" the prod stage would put alice in two prod plans. */
    ps.stage = "prod";
    in.name = "empty";
    assert_int_equal(cp_store_plan_update(f->st, "test", &in, NULL, &err), -EBUSY);
    Edge__V1__UsagePlan *p = NULL;
    must(cp_store_plan_get(f->st, "empty", &p, &err), &err);
    assert_int_equal(p->n_stages, 0); /* rolled back */
    edge_pb_free(p);

    /* Remove, then the other plan is allowed. */
    must(cp_store_plan_key(f->st, "test", "gold", "alice", false, &k, &err), &err);
    assert_int_equal(k->n_plans, 2);
    edge_pb_free(k);
    assert_int_equal(cp_store_plan_key(f->st, "test", "gold", "alice", false, NULL, &err), -ENOENT);
    must(cp_store_plan_key(f->st, "test", "silver", "alice", true, NULL, &err), &err);

    /* List filters by plan. */
    Edge__V1__ListApiKeysResponse *list = NULL;
    free(make_key(f->st, "bob", "bob-secret-value-000001", NULL));
    must(cp_store_key_list(f->st, NULL, &list, &err), &err);
    assert_int_equal(list->n_keys, 2);
    assert_string_equal(list->keys[0]->name, "alice");
    assert_int_equal(list->keys[0]->secret_sha256.len, 0);
    edge_pb_free(list);
    must(cp_store_key_list(f->st, "silver", &list, &err), &err);
    assert_int_equal(list->n_keys, 1);
    edge_pb_free(list);
    assert_int_equal(cp_store_key_list(f->st, "nope", &list, &err), -ENOENT);

    /* Delete: refused while keys subscribe, unless forced; the key stays. */
    assert_int_equal(cp_store_plan_delete(f->st, "test", "silver", false, NULL, &err), -EBUSY);
    assert_non_null(strstr(err.message, "alice"));
    must(cp_store_plan_delete(f->st, "test", "silver", true, NULL, &err), &err);
    must(cp_store_key_get(f->st, "alice", &k, &err), &err);
    assert_int_equal(k->n_plans, 2);
    edge_pb_free(k);
    Edge__V1__ListUsagePlansResponse *plans = NULL;
    must(cp_store_plan_list(f->st, &plans, &err), &err);
    assert_int_equal(plans->n_plans, 3);
    assert_string_equal(plans->plans[0]->name, "devplan");
    edge_pb_free(plans);
    free(id);
}

static void
test_usage(void **state)
{
    struct fixture *f = *state;
    struct cp_store_err err = {0};
    Edge__V1__GetUsageResponse *u = NULL;
    Edge__V1__GetUsageRequest req = EDGE__V1__GET_USAGE_REQUEST__INIT;

    make_stages(f->st);
    make_plan(f->st, "gold", "prod"); /* 100 per day */
    const char *plans[] = {"gold", NULL};
    char *id = make_key(f->st, "alice", "alice-secret-value-0001", plans);

    /* Empty: works, no rows. */
    req.plan = "gold";
    int64_t now = 1796169600; /* 2026-12-02T00:00:00Z */
    must(cp_store_usage_get(f->st, &req, now, &u, &err), &err);
    assert_int_equal(u->n_days, 0);
    assert_string_equal(u->to, "2026-12-02");
    assert_string_equal(u->from, "2026-11-03");
    assert_false(u->unlimited);
    edge_pb_free(u);

    uint64_t rev = cp_store_revision(f->st);
    must(cp_store_usage_add(f->st, id, "gold", "2026-12-01", 30, &err), &err);
    must(cp_store_usage_add(f->st, id, "gold", "2026-12-01", 50, &err), &err);
    must(cp_store_usage_add(f->st, id, "gold", "2026-12-02", 120, &err), &err);
    must(cp_store_usage_add(f->st, id, "gold", "2026-10-01", 1, &err), &err);
    must(cp_store_usage_add(f->st, id, "silver", "2026-12-01", 7, &err), &err);
    assert_int_equal(cp_store_revision(f->st), rev); /* not configuration */
    assert_int_equal(cp_store_usage_add(f->st, id, "gold", "2026-13-01", 1, &err), -EINVAL);

    req.key = "alice";
    must(cp_store_usage_get(f->st, &req, now, &u, &err), &err);
    assert_int_equal(u->n_days, 2);
    assert_string_equal(u->days[0]->day, "2026-12-01");
    assert_string_equal(u->days[0]->key_name, "alice");
    assert_int_equal(u->days[0]->count, 80);
    assert_int_equal(u->days[0]->remaining, 20);
    assert_int_equal(u->days[1]->count, 120);
    assert_int_equal(u->days[1]->remaining, 0);
    edge_pb_free(u);

    /* Weekly quota: 2026-11-30 is a Monday, so both days share one period. */
    Edge__V1__UsagePlan *p = NULL;
    must(cp_store_plan_get(f->st, "gold", &p, &err), &err);
    p->quota->period = EDGE__V1__QUOTA_PERIOD__QUOTA_PERIOD_WEEK;
    p->quota->limit = 1000;
    must(cp_store_plan_update(f->st, "test", p, NULL, &err), &err);
    edge_pb_free(p);
    req.from = "2026-12-02";
    req.to = "2026-12-02";
    must(cp_store_usage_get(f->st, &req, now, &u, &err), &err);
    assert_int_equal(u->n_days, 1);
    assert_int_equal(u->days[0]->remaining, 1000 - 80 - 120);
    edge_pb_free(u);

    /* Bad input. */
    req.from = "2026-02-30";
    assert_int_equal(cp_store_usage_get(f->st, &req, now, &u, &err), -EINVAL);
    assert_non_null(strstr(err.message, "from"));
    req.from = "2026-12-03";
    assert_int_equal(cp_store_usage_get(f->st, &req, now, &u, &err), -EINVAL);
    req.from = "2024-01-01";
    assert_int_equal(cp_store_usage_get(f->st, &req, now, &u, &err), -EINVAL);
    req.from = NULL;
    req.key = "nokey";
    assert_int_equal(cp_store_usage_get(f->st, &req, now, &u, &err), -ENOENT);
    req.key = NULL;
    req.plan = "nope";
    assert_int_equal(cp_store_usage_get(f->st, &req, now, &u, &err), -ENOENT);

    /* Revoked keys keep their history. */
    must(cp_store_key_delete(f->st, "test", id, NULL, &err), &err);
    req.plan = "gold";
    req.to = "2026-12-02";
    must(cp_store_usage_get(f->st, &req, now, &u, &err), &err);
    assert_int_equal(u->n_days, 2);
    assert_string_equal(u->days[0]->key_name, "");
    edge_pb_free(u);
    free(id);
}

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* EDGE_KEYS_BENCH=N: N keys through the bulk path, then one full snapshot load (what every
 * publish does) and one single-key create. Skipped otherwise. */
static void
test_bench(void **state)
{
    struct fixture *f = *state;
    struct cp_store_err err = {0};
    const char *env = getenv("EDGE_KEYS_BENCH");
    size_t n = env ? strtoul(env, NULL, 10) : 0;

    if (n == 0) {
        skip();
        return;
    }
    Edge__V1__ApiKey **keys = calloc(n, sizeof(*keys));
    uint8_t(*hashes)[32] = calloc(n, 32);
    char **prefixes = calloc(n, sizeof(*prefixes));
    assert_true(keys && hashes && prefixes);
    for (size_t i = 0; i < n; i++) {
        char name[32], secret[64];
        keys[i] = edge_pb_new(&edge__v1__api_key__descriptor);
        (void)snprintf(name, sizeof(name), "bench-%07zu", i);
        keys[i]->name = edge_pb_strdup(name);
        keys[i]->enabled = true;
        (void)snprintf(secret, sizeof(secret), "bench-secret-%020zu", i);
        sha(secret, hashes[i]);
        prefixes[i] = strdup("bench-se");
    }
    double t0 = now_s();
    must(cp_store_key_create_bulk(f->st, "test", keys, (const uint8_t(*)[32])hashes,
                                  (const char *const *)prefixes, n, NULL, &err),
         &err);
    double t1 = now_s();
    Edge__V1__ConfigUpdate *u = NULL;
    must(cp_store_load_config(f->st, &u), &err);
    double t2 = now_s();
    size_t packed = protobuf_c_message_get_packed_size(&u->base);
    edge_pb_free(u);
    double t3 = now_s();
    char *id = make_key(f->st, "one-more", "one-more-secret-value-1", NULL);
    double t4 = now_s();
    printf("bench: %zu keys: bulk create %.2f s (%.1f us/key); load_config %.3f s (%zu bytes "
           "packed); one more key %.2f ms\n",
           n, t1 - t0, (t1 - t0) * 1e6 / (double)n, t2 - t1, packed, (t4 - t3) * 1e3);
    free(id);
    for (size_t i = 0; i < n; i++) {
        edge_pb_free(keys[i]);
        free(prefixes[i]);
    }
    free(keys);
    free(hashes);
    free(prefixes);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_hash_only, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_rotate_enable_revoke, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_plan_rules, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_usage, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_bench, fixture_setup, fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
