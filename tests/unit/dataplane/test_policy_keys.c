/* The API key table and the policy chain over a compiled snapshot: 1,000,000 keys (lookup and
 * resident memory per key), then every verdict of dp_policy_check. */
#include "http/h1_parse.h"
#include "policy/policy.h"
#include "policy/usage.h"
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

#define N_KEYS 1000000

static long
rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

/* A config: upstream u, deployment d1 with GET /pets (key required) and GET /open (stage
 * throttle only), stages api/prod and api/dev on d1, plan "gold" on api/prod (rate 2, burst 2,
 * quota 3/day), plan "devonly" on api/dev; n keys "k-<i>" with secret "secret-<i>": key 0 is
 * disabled, key 1 expired, key 2 only in devonly, the rest in gold. Everything is held in
 * arrays freed by cfg_free. */
struct cfg {
    Edge__V1__ConfigUpdate u;
    Edge__V1__Resource **put, *res;
    Edge__V1__ApiKey *keys;
    char *ids;
    uint8_t *shas;
    char **plan_names;
};

static char *plan_gold = "gold", *plan_dev = "devonly";

static void
cfg_build(struct cfg *c, size_t n)
{
    static Edge__V1__Target tg = EDGE__V1__TARGET__INIT;
    static Edge__V1__Target *tgs[1];
    static Edge__V1__Upstream up = EDGE__V1__UPSTREAM__INIT;
    static Edge__V1__Integration in = EDGE__V1__INTEGRATION__INIT;
    static Edge__V1__Route r1 = EDGE__V1__ROUTE__INIT, r2 = EDGE__V1__ROUTE__INIT;
    static Edge__V1__Route *rts[2];
    static Edge__V1__Deployment dep = EDGE__V1__DEPLOYMENT__INIT;
    static Edge__V1__Stage prod = EDGE__V1__STAGE__INIT, dev = EDGE__V1__STAGE__INIT;
    static Edge__V1__Throttle st_thr = EDGE__V1__THROTTLE__INIT;
    static Edge__V1__Throttle pl_thr = EDGE__V1__THROTTLE__INIT;
    static Edge__V1__Quota quota = EDGE__V1__QUOTA__INIT;
    static Edge__V1__PlanStage ps_prod = EDGE__V1__PLAN_STAGE__INIT,
                               ps_dev = EDGE__V1__PLAN_STAGE__INIT;
    static Edge__V1__PlanStage *ps1[1], *ps2[1];
    static Edge__V1__UsagePlan gold = EDGE__V1__USAGE_PLAN__INIT,
                               devonly = EDGE__V1__USAGE_PLAN__INIT;
    static char *gold_plans[1], *dev_plans[1];

    tg.host = "127.0.0.1";
    tg.port = 9;
    tgs[0] = &tg;
    up.name = "u";
    up.targets = tgs;
    up.n_targets = 1;
    in.upstream = "u";
    r1.id = "r-pets";
    r1.api = "api";
    r1.method = "GET";
    r1.path = "/pets";
    r1.integration = &in;
    r1.api_key_required = true;
    r2 = r1;
    r2.id = "r-open";
    r2.path = "/open";
    r2.api_key_required = false;
    rts[0] = &r1;
    rts[1] = &r2;
    dep.id = "d1";
    dep.api = "api";
    dep.routes = rts;
    dep.n_routes = 2;
    prod.api = dev.api = "api";
    prod.name = "prod";
    dev.name = "dev";
    prod.deployment_id = dev.deployment_id = "d1";
    st_thr.rate = 1;
    st_thr.burst = 3;
    dev.throttle = &st_thr;
    pl_thr.rate = 2;
    pl_thr.burst = 2;
    quota.limit = 3;
    quota.period = EDGE__V1__QUOTA_PERIOD__QUOTA_PERIOD_DAY;
    ps_prod.api = ps_dev.api = "api";
    ps_prod.stage = "prod";
    ps_dev.stage = "dev";
    ps1[0] = &ps_prod;
    ps2[0] = &ps_dev;
    gold.name = plan_gold;
    gold.stages = ps1;
    gold.n_stages = 1;
    gold.throttle = &pl_thr;
    gold.quota = &quota;
    devonly.name = plan_dev;
    devonly.stages = ps2;
    devonly.n_stages = 1;
    gold_plans[0] = plan_gold;
    dev_plans[0] = plan_dev;

    size_t fixed = 6;
    c->put = calloc(n + fixed, sizeof(*c->put));
    c->res = calloc(n + fixed, sizeof(*c->res));
    c->keys = calloc(n ? n : 1, sizeof(*c->keys));
    c->ids = calloc(n ? n : 1, 16);
    c->shas = calloc(n ? n : 1, 32);
    assert_non_null(c->put);
    assert_non_null(c->res);
    assert_non_null(c->keys);
    assert_non_null(c->ids);
    assert_non_null(c->shas);
    Edge__V1__Resource init = EDGE__V1__RESOURCE__INIT;
    for (size_t i = 0; i < n + fixed; i++) {
        c->res[i] = init;
        c->put[i] = &c->res[i];
    }
    c->res[0].body_case = EDGE__V1__RESOURCE__BODY_UPSTREAM;
    c->res[0].type = EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_UPSTREAM;
    c->res[0].upstream = &up;
    c->res[1].body_case = EDGE__V1__RESOURCE__BODY_DEPLOYMENT;
    c->res[1].type = EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_DEPLOYMENT;
    c->res[1].deployment = &dep;
    c->res[2].body_case = EDGE__V1__RESOURCE__BODY_STAGE;
    c->res[2].type = EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_STAGE;
    c->res[2].stage = &prod;
    c->res[3].body_case = EDGE__V1__RESOURCE__BODY_STAGE;
    c->res[3].type = EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_STAGE;
    c->res[3].stage = &dev;
    c->res[4].body_case = EDGE__V1__RESOURCE__BODY_PLAN;
    c->res[4].type = EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_PLAN;
    c->res[4].plan = &gold;
    c->res[5].body_case = EDGE__V1__RESOURCE__BODY_PLAN;
    c->res[5].type = EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_PLAN;
    c->res[5].plan = &devonly;
    Edge__V1__ApiKey kinit = EDGE__V1__API_KEY__INIT;
    for (size_t i = 0; i < n; i++) {
        Edge__V1__ApiKey *k = &c->keys[i];
        *k = kinit;
        char *id = c->ids + 16 * i;
        snprintf(id, 16, "k-%012zx", i);
        k->id = id;
        k->enabled = i != 0;
        k->expires_at = i == 1 ? 1000 : 0;
        k->plans = i == 2 ? dev_plans : gold_plans;
        k->n_plans = 1;
        char secret[32];
        int len = snprintf(secret, sizeof(secret), "secret-%zu", i);
        dp_key_hash(secret, (size_t)len, c->shas + 32 * i);
        k->secret_sha256.data = c->shas + 32 * i;
        k->secret_sha256.len = 32;
        Edge__V1__Resource *res = &c->res[fixed + i];
        res->type = EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_KEY;
        res->body_case = EDGE__V1__RESOURCE__BODY_KEY;
        res->key = k;
    }
    Edge__V1__ConfigUpdate uinit = EDGE__V1__CONFIG_UPDATE__INIT;
    c->u = uinit;
    c->u.revision = 1;
    c->u.store_id = "s";
    c->u.full = true;
    c->u.put = c->put;
    c->u.n_put = n + fixed;
}

static void
cfg_free(struct cfg *c)
{
    free(c->put);
    free(c->res);
    free(c->keys);
    free(c->ids);
    free(c->shas);
}

static void
test_million_keys(void **state)
{
    (void)state;
    struct cfg c;
    cfg_build(&c, N_KEYS);
    struct dp_registries reg = {0};
    dp_registry_init(&reg.targets);
    dp_registry_init(&reg.upstreams);
    dp_registry_init(&reg.routes);
    char err[256] = "";
    long before = rss_kb();
    struct dp_snapshot *s = NULL;
    assert_int_equal(dp_snapshot_compile(&c.u, &reg, &s, err, sizeof(err)), 0);
    long after = rss_kb();
    double per_key = (double)(after - before) * 1024.0 / N_KEYS;
    printf("# %d keys: snapshot resident %.1f MiB, %.1f bytes per key\n", N_KEYS,
           (double)(after - before) / 1024.0, per_key);
    assert_true(per_key <= 128);
    assert_int_equal(dp_keystore_count(s->keystore), N_KEYS);
    /* every key found by its secret, nothing else */
    for (size_t i = 0; i < N_KEYS; i++) {
        char secret[32];
        uint8_t sha[32];
        int len = snprintf(secret, sizeof(secret), "secret-%zu", i);
        dp_key_hash(secret, (size_t)len, sha);
        struct dp_key k;
        assert_true(dp_keyindex_find(s->keys, sha, &k));
        assert_string_equal(k.id, c.keys[i].id);
    }
    for (size_t i = 0; i < 1000; i++) {
        char secret[32];
        uint8_t sha[32];
        int len = snprintf(secret, sizeof(secret), "nope-%zu", i);
        dp_key_hash(secret, (size_t)len, sha);
        struct dp_key k;
        assert_false(dp_keyindex_find(s->keys, sha, &k));
    }
    dp_snapshot_unref(s);
    dp_registries_policy_done(&reg);
    dp_registry_done(&reg.targets);
    dp_registry_done(&reg.upstreams);
    dp_registry_done(&reg.routes);
    cfg_free(&c);
}

static const struct dp_route *
route_of(const struct dp_stage *st, const char *path)
{
    char scratch[256];
    struct edge_route_match m;
    edge_route_lookup(st->deployment->table, "GET", 3, path, strlen(path), scratch, sizeof(scratch),
                      &m);
    assert_int_equal(m.status, 200);
    return m.route;
}

static int
check(const struct dp_snapshot *s, const struct dp_stage *st, const char *path, const char *secret,
      uint64_t now_ns, struct dp_policy_verdict *v)
{
    dp_policy_check(s, st, route_of(st, path), secret, secret ? strlen(secret) : 0, now_ns,
                    2000000000, 0, v);
    return v->status;
}

static void
test_verdicts(void **state)
{
    (void)state;
    struct cfg c;
    cfg_build(&c, 10);
    struct dp_registries reg = {0};
    char err[256] = "";
    struct dp_snapshot *s = NULL;
    assert_int_equal(dp_snapshot_compile(&c.u, &reg, &s, err, sizeof(err)), 0);
    const struct dp_stage *prod = NULL, *dev = NULL;
    for (size_t i = 0; i < s->n_stages; i++) {
        if (strcmp(s->stages[i].name, "prod") == 0)
            prod = &s->stages[i];
        else
            dev = &s->stages[i];
    }
    assert_non_null(prod);
    assert_non_null(dev);
    struct dp_policy_verdict v;
    uint64_t t = 100ULL * 1000000000ULL;
    assert_int_equal(check(s, prod, "/pets", NULL, t, &v), 401);
    assert_string_equal(v.message, "missing API key");
    assert_int_equal(check(s, prod, "/pets", "wrong", t, &v), 401);
    assert_string_equal(v.message, "invalid API key");
    assert_int_equal(check(s, prod, "/pets", "secret-0", t, &v), 403);
    assert_string_equal(v.message, "API key disabled");
    assert_int_equal(check(s, prod, "/pets", "secret-1", t, &v), 403);
    assert_string_equal(v.message, "API key expired");
    assert_int_equal(check(s, prod, "/pets", "secret-2", t, &v), 403);
    assert_string_equal(v.message, "API key not allowed on this stage");
    /* key 3 in gold: burst 2 at rate 2/s, with RateLimit headers */
    assert_int_equal(check(s, prod, "/pets", "secret-3", t, &v), 0);
    assert_string_equal(v.key->id, "k-000000000003");
    assert_true(v.throttled);
    assert_non_null(strstr(v.headers, "RateLimit-Limit: 2\r\n"));
    assert_non_null(strstr(v.headers, "RateLimit-Remaining: 1\r\n"));
    assert_int_equal(check(s, prod, "/pets", "secret-3", t, &v), 0);
    assert_int_equal(check(s, prod, "/pets", "secret-3", t, &v), 429);
    assert_string_equal(v.message, "too many requests");
    assert_non_null(strstr(v.headers, "Retry-After: 1\r\n"));
    /* another key has its own bucket; the quota (3/day) then stops key 3 */
    assert_int_equal(check(s, prod, "/pets", "secret-4", t, &v), 0);
    assert_int_equal(check(s, prod, "/pets", "secret-3", t + 10000000000ULL, &v), 0);
    assert_int_equal(check(s, prod, "/pets", "secret-3", t + 20000000000ULL, &v), 429);
    assert_string_equal(v.message, "quota exceeded");
    assert_non_null(strstr(v.headers, "Retry-After: "));
    /* a route without keys: only dev's stage throttle (rate 1, burst 3), for every caller */
    assert_int_equal(check(s, prod, "/open", NULL, t, &v), 0);
    assert_false(v.throttled);
    for (int i = 0; i < 3; i++)
        assert_int_equal(check(s, dev, "/open", NULL, t, &v), 0);
    assert_int_equal(check(s, dev, "/open", NULL, t, &v), 429);
    /* buckets survive a new snapshot */
    struct dp_snapshot *s2 = NULL;
    assert_int_equal(dp_snapshot_compile(&c.u, &reg, &s2, err, sizeof(err)), 0);
    const struct dp_stage *dev2 = &s2->stages[0];
    if (strcmp(dev2->name, "dev") != 0)
        dev2 = &s2->stages[1];
    assert_int_equal(check(s2, dev2, "/open", NULL, t, &v), 429);
    dp_snapshot_unref(s2);
    dp_snapshot_unref(s);
    dp_registries_policy_done(&reg);
    dp_registry_done(&reg.targets);
    dp_registry_done(&reg.upstreams);
    dp_registry_done(&reg.routes);
    cfg_free(&c);
}

struct sent {
    int fail; /* answer this error instead of taking the report */
    size_t n;
    char key[8][32], plan[8][16];
    uint64_t count[8];
    int64_t start[8];
};

static int
fake_send(void *ctx, const Edge__V1__UsageReport *r)
{
    struct sent *s = ctx;
    if (s->fail)
        return s->fail;
    s->n = 0;
    for (size_t i = 0; i < r->n_counts && i < 8; i++, s->n++) {
        snprintf(s->key[i], sizeof(s->key[i]), "%s", r->counts[i]->key_id);
        snprintf(s->plan[i], sizeof(s->plan[i]), "%s", r->counts[i]->plan);
        s->count[i] = r->counts[i]->count;
        s->start[i] = r->counts[i]->period_start;
    }
    return 0;
}

static void
test_usage_report(void **state)
{
    (void)state;
    struct cfg c;
    cfg_build(&c, 10);
    struct dp_registries reg = {0};
    char err[256] = "";
    struct dp_snapshot *s = NULL;
    assert_int_equal(dp_snapshot_compile(&c.u, &reg, &s, err, sizeof(err)), 0);
    const struct dp_stage *prod =
        strcmp(s->stages[0].name, "prod") == 0 ? &s->stages[0] : &s->stages[1];
    struct sent sent = {0};
    assert_int_equal(dp_policy_usage_report(s, fake_send, &sent), 0); /* nothing counted yet */
    struct dp_policy_verdict v;
    uint64_t t = 100ULL * 1000000000ULL;
    assert_int_equal(check(s, prod, "/pets", "secret-5", t, &v), 0);
    assert_int_equal(check(s, prod, "/pets", "secret-5", t + 1000000000ULL, &v), 0);
    assert_int_equal(check(s, prod, "/pets", "secret-6", t, &v), 0);
    assert_int_equal(check(s, prod, "/pets", "nope", t, &v), 401); /* not counted */
    /* a failed send keeps the counts for the next report */
    sent.fail = -EAGAIN;
    assert_int_equal(dp_policy_usage_report(s, fake_send, &sent), -EAGAIN);
    sent.fail = 0;
    assert_int_equal(dp_policy_usage_report(s, fake_send, &sent), 2);
    assert_int_equal(sent.n, 2);
    uint64_t total = 0;
    for (size_t i = 0; i < sent.n; i++) {
        assert_string_equal(sent.plan[i], "gold");
        assert_int_equal(sent.start[i], 2000000000 / 86400 * 86400); /* check()'s day */
        if (strcmp(sent.key[i], "k-000000000005") == 0)
            assert_int_equal(sent.count[i], 2);
        else
            assert_string_equal(sent.key[i], "k-000000000006");
        total += sent.count[i];
    }
    assert_int_equal(total, 3);
    /* only what moved since: deltas */
    assert_int_equal(dp_policy_usage_report(s, fake_send, &sent), 0);
    assert_int_equal(check(s, prod, "/pets", "secret-5", t + 5000000000ULL, &v), 0);
    assert_int_equal(dp_policy_usage_report(s, fake_send, &sent), 1);
    assert_string_equal(sent.key[0], "k-000000000005");
    assert_int_equal(sent.count[0], 1);
    dp_snapshot_unref(s);
    dp_registries_policy_done(&reg);
    dp_registry_done(&reg.targets);
    dp_registry_done(&reg.upstreams);
    dp_registry_done(&reg.routes);
    cfg_free(&c);
}

static void
test_find_key(void **state)
{
    (void)state;
    const char *req = "GET /x?a=1&api_key=abc&b=2 HTTP/1.1\r\nHost: h\r\nX-API-Key: s3cret\r\n"
                      "\r\n";
    static struct dp_h1_head h; /* large: off the stack */
    llhttp_t p;
    size_t used = 0;
    dp_h1_head_reset(&h);
    assert_int_equal(dp_h1_parse_request_head(req, strlen(req), &h, &p, &used), 0);
    const char *v = NULL;
    size_t n = 0;
    struct dp_route_policy hp = {.key_name = "x-api-key", .key_name_len = 9};
    assert_int_equal(dp_policy_find_key(&hp, &h, req, "", 0, &v, &n), 0);
    assert_int_equal(n, 6);
    assert_memory_equal(v, "s3cret", 6);
    struct dp_route_policy qp = {.key_in_query = true, .key_name = "api_key", .key_name_len = 7};
    const char *q = "?a=1&api_key=abc&b=2";
    assert_int_equal(dp_policy_find_key(&qp, &h, req, q, strlen(q), &v, &n), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(v, "abc", 3);
    const char *bad[] = {"", "?", "?api_key=", "?api_keyx=1", "?xapi_key=1", "?a=1&api_key"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(dp_policy_find_key(&qp, &h, req, bad[i], strlen(bad[i]), &v, &n), -ENOENT);
    struct dp_route_policy other = {.key_name = "x-other", .key_name_len = 7};
    assert_int_equal(dp_policy_find_key(&other, &h, req, "", 0, &v, &n), -ENOENT);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verdicts),
        cmocka_unit_test(test_usage_report),
        cmocka_unit_test(test_find_key),
        cmocka_unit_test(test_million_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
