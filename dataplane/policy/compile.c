#include "policy/compile.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Buckets of a node: 2^20 slots (16 MiB of address space, resident only where used). */
#define DP_POLICY_BUCKETS (1u << 20)

static int
fail(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static int
throttle_of(const Edge__V1__Throttle *t, struct dp_throttle *out, const char *what, char *err,
            size_t err_len)
{
    out->rate = 0;
    out->burst = 0;
    if (!t)
        return 0;
    if (!isfinite(t->rate) || t->rate < 0 || t->rate > 1e9)
        return fail(err, err_len, "%s: throttle rate %g out of range", what, t->rate);
    out->rate = t->rate;
    /* No burst given: one second's worth, at least 1. */
    out->burst = t->burst ? t->burst : (uint32_t)(t->rate >= 1 ? ceil(t->rate) : 1);
    return 0;
}

int
dp_policy_compile_route(struct dp_snapshot *s, const Edge__V1__Route *rt, struct dp_route *out,
                        char *err, size_t err_len)
{
    struct dp_route_policy *p = &out->policy;
    p->key_required = rt->api_key_required;
    const char *in = rt->api_key_in ? rt->api_key_in : "";
    if (in[0] && strcmp(in, "header") != 0 && strcmp(in, "query") != 0)
        return fail(err, err_len, "route %s %s: api_key_in \"%s\" is not header or query",
                    out->method, out->path, in);
    p->key_in_query = strcmp(in, "query") == 0;
    const char *name = rt->api_key_name && rt->api_key_name[0] ? rt->api_key_name : "x-api-key";
    p->key_name = dp_arena_strdup(&s->arena, name);
    if (!p->key_name)
        return -ENOMEM;
    p->key_name_len = strlen(name);
    char label[600];
    snprintf(label, sizeof(label), "%s %s %s", out->api, out->method, out->path);
    /* The route id when there is one (stable across deployments), else api+method+path. */
    p->id = dp_policy_hash_str(0x7275, out->id && out->id[0] ? out->id : label);
    return throttle_of(rt->throttle, &p->throttle, label, err, err_len);
}

int
dp_policy_compile_stage(struct dp_snapshot *s, const Edge__V1__Stage *st, struct dp_stage *out,
                        char *err, size_t err_len)
{
    (void)s;
    char label[300];
    snprintf(label, sizeof(label), "%s/%s", out->api, out->name);
    out->policy_id = dp_policy_hash_str(0x7374, label);
    return throttle_of(st->throttle, &out->throttle, label, err, err_len);
}

static const struct dp_stage *
stage_of(const struct dp_snapshot *s, const char *api, const char *name)
{
    for (size_t i = 0; i < s->n_stages; i++)
        if (strcmp(s->stages[i].api, api ? api : "") == 0 &&
            strcmp(s->stages[i].name, name ? name : "") == 0)
            return &s->stages[i];
    return NULL;
}

static int
compile_plan(struct dp_snapshot *s, const Edge__V1__UsagePlan *up, struct dp_plan *p, char *err,
             size_t err_len)
{
    if (!up->name || !up->name[0])
        return fail(err, err_len, "usage plan with an empty name");
    for (size_t i = 0; i < s->n_plans; i++)
        if (strcmp(s->plans[i].name, up->name) == 0)
            return fail(err, err_len, "usage plan %s defined twice", up->name);
    p->name = dp_arena_strdup(&s->arena, up->name);
    p->stages = dp_arena_alloc(&s->arena, (up->n_stages ? up->n_stages : 1) * sizeof(*p->stages));
    p->routes = dp_arena_alloc(&s->arena, (up->n_route_throttles ? up->n_route_throttles : 1) *
                                              sizeof(*p->routes));
    if (!p->name || !p->stages || !p->routes)
        return -ENOMEM;
    p->id = dp_policy_hash_str(0x706c, up->name);
    char what[300];
    snprintf(what, sizeof(what), "usage plan %s", up->name);
    int e = throttle_of(up->throttle, &p->throttle, what, err, err_len);
    if (e < 0)
        return e;
    if (up->quota && up->quota->limit) {
        switch (up->quota->period) {
        case EDGE__V1__QUOTA_PERIOD__QUOTA_PERIOD_DAY:
            p->period = DP_QUOTA_DAY;
            break;
        case EDGE__V1__QUOTA_PERIOD__QUOTA_PERIOD_WEEK:
            p->period = DP_QUOTA_WEEK;
            break;
        case EDGE__V1__QUOTA_PERIOD__QUOTA_PERIOD_MONTH:
            p->period = DP_QUOTA_MONTH;
            break;
        default:
            return fail(err, err_len, "usage plan %s: quota without a period", up->name);
        }
        p->quota_limit = up->quota->limit;
    }
    /* A stage this snapshot does not hold (not created yet) covers nothing. */
    for (size_t i = 0; i < up->n_stages; i++) {
        const struct dp_stage *st = stage_of(s, up->stages[i]->api, up->stages[i]->stage);
        if (st)
            p->stages[p->n_stages++] = st;
    }
    for (size_t i = 0; i < up->n_route_throttles; i++) {
        const Edge__V1__RouteThrottle *rt = up->route_throttles[i];
        const struct dp_stage *st = stage_of(s, rt->api, rt->stage);
        if (!st)
            continue;
        struct dp_plan_route *pr = &p->routes[p->n_routes];
        const char *method = rt->method && rt->method[0] ? rt->method : "ANY";
        pr->stage = st;
        pr->method = dp_arena_strdup(&s->arena, method);
        pr->path = dp_arena_strdup(&s->arena, rt->path ? rt->path : "");
        if (!pr->method || !pr->path)
            return -ENOMEM;
        char label[600];
        snprintf(label, sizeof(label), "%s/%s %s %s", st->api, st->name, method, pr->path);
        pr->id = dp_policy_hash_str(0x7072, label);
        e = throttle_of(rt->throttle, &pr->throttle, what, err, err_len);
        if (e < 0)
            return e;
        p->n_routes++;
    }
    return 0;
}

int
dp_policy_compile(struct dp_snapshot *s, const Edge__V1__ConfigUpdate *cfg,
                  struct dp_registries *reg, char *err, size_t err_len)
{
    if (!reg->buckets) {
        struct dp_buckets *b = calloc(1, sizeof(*b));
        if (!b || dp_buckets_init(b, DP_POLICY_BUCKETS) < 0) {
            free(b);
            return -ENOMEM;
        }
        reg->buckets = b;
    }
    if (!reg->keystore && dp_keystore_new(&reg->keystore) < 0)
        return -ENOMEM;
    s->buckets = reg->buckets;
    s->revoked = &reg->revoked;
    s->keystore = reg->keystore;
    /* Fleet-wide rates are shared by the nodes the control plane counted (0: unknown, 1). */
    atomic_store_explicit(&reg->buckets->fleet, cfg->nodes_connected, memory_order_relaxed);

    size_t n_plans = 0;
    for (size_t i = 0; i < cfg->n_put; i++)
        if (cfg->put[i]->body_case == EDGE__V1__RESOURCE__BODY_PLAN)
            n_plans++;
    s->plans = dp_arena_alloc(&s->arena, (n_plans ? n_plans : 1) * sizeof(*s->plans));
    if (!s->plans)
        return -ENOMEM;
    for (size_t i = 0; i < cfg->n_put; i++) {
        const Edge__V1__Resource *res = cfg->put[i];
        if (res->body_case != EDGE__V1__RESOURCE__BODY_PLAN)
            continue;
        int e = compile_plan(s, res->plan, &s->plans[s->n_plans], err, err_len);
        if (e < 0)
            return e;
        s->n_plans++;
    }
    /* Keys name plans by name: map the key store's name ids to this snapshot's plans. */
    uint32_t *ids = dp_arena_alloc(&s->arena, (n_plans ? n_plans : 1) * sizeof(*ids));
    if (!ids)
        return -ENOMEM;
    for (size_t i = 0; i < s->n_plans; i++)
        if (dp_keystore_plan_id(reg->keystore, s->plans[i].name, &ids[i]) < 0)
            return -ENOMEM;
    s->n_plan_of_name = dp_keystore_plan_ids(reg->keystore);
    s->plan_of_name = dp_arena_alloc(&s->arena, (s->n_plan_of_name ? s->n_plan_of_name : 1) *
                                                    sizeof(*s->plan_of_name));
    if (!s->plan_of_name)
        return -ENOMEM;
    for (uint32_t i = 0; i < s->n_plan_of_name; i++)
        s->plan_of_name[i] = DP_NO_PLAN;
    for (size_t i = 0; i < s->n_plans; i++)
        s->plan_of_name[ids[i]] = (uint32_t)i;
    return 0;
}

/* One key into the store. A key that cannot be stored is left out (refused), never kept in an
 * older state: a disable or a re-plan must not be lost to a failed allocation. */
static int
put_key(struct dp_keystore *ks, const char *id, const Edge__V1__ApiKey *ak)
{
    if (!ak || ak->secret_sha256.len != 32) {
        (void)dp_keystore_remove(ks, id); /* no hash on the stream: nobody can present it */
        return -EINVAL;
    }
    if (ak->id && ak->id[0])
        id = ak->id; /* the key's own id; the resource's is the same from a control plane */
    size_t n = ak->n_plans < DP_KEY_MAX_PLANS ? ak->n_plans : DP_KEY_MAX_PLANS;
    int e = dp_keystore_put(ks, id, ak->secret_sha256.data, ak->enabled, ak->expires_at,
                            (const char *const *)ak->plans, n);
    if (e < 0 && e != -EEXIST)
        (void)dp_keystore_remove(ks, id);
    return e;
}

int
dp_policy_apply_keys(struct dp_snapshot *s, const Edge__V1__ConfigUpdate *cfg,
                     const struct dp_key_changes *keys, struct dp_registries *reg)
{
    struct dp_keystore *ks = reg->keystore;
    size_t refused = 0;
    if (!keys) { /* the keys of cfg are all the keys */
        dp_keystore_reset_begin(ks);
        for (size_t i = 0; i < cfg->n_put; i++) {
            const Edge__V1__Resource *res = cfg->put[i];
            if (res->body_case == EDGE__V1__RESOURCE__BODY_KEY &&
                put_key(ks, res->id, res->key) < 0)
                refused++;
        }
        (void)dp_keystore_reset_end(ks);
    } else {
        if (keys->reset)
            dp_keystore_reset_begin(ks);
        /* Removes first: a secret that moves from a removed key to another is not refused
         * as the removed key's. */
        for (size_t i = 0; i < keys->n; i++)
            if (!keys->changes[i].key)
                (void)dp_keystore_remove(ks, keys->changes[i].id);
        for (size_t i = 0; i < keys->n; i++) {
            const struct dp_key_change *c = &keys->changes[i];
            if (c->key && put_key(ks, c->id, c->key) < 0)
                refused++;
        }
        if (keys->reset)
            (void)dp_keystore_reset_end(ks);
    }
    s->keys = dp_keystore_index_ref(ks);
    return (int)(refused > INT32_MAX ? INT32_MAX : refused);
}
