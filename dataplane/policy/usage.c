#include "policy/usage.h"

#include "policy/quota.h"

#include <errno.h>
#include <stdlib.h>

#define COUNT_BITS 40
#define COUNT_MASK ((1ULL << COUNT_BITS) - 1)

uint64_t
dp_policy_usage_id(uint64_t plan_id, uint64_t key_id_hash)
{
    return dp_policy_mix(dp_policy_mix(plan_id, key_id_hash), 0x51u);
}

/* The word holding what was reported of a usage word (main thread only). */
static uint64_t
reported_id(uint64_t usage_id)
{
    return dp_policy_mix(usage_id, 0x5245u);
}

uint64_t
dp_policy_usage_claim(struct dp_buckets *b, uint64_t usage_id, int64_t period_start)
{
    _Atomic uint64_t *w = dp_buckets_find(b, usage_id);
    _Atomic uint64_t *rw = w ? dp_buckets_get(b, reported_id(usage_id)) : NULL;
    if (!rw)
        return 0;
    uint64_t cur = atomic_load_explicit(w, memory_order_relaxed);
    uint64_t now_count = dp_quota_count(cur, period_start);
    if (now_count == 0)
        return 0; /* nothing counted in this period (yet, or any more) */
    uint64_t rep = atomic_load_explicit(rw, memory_order_relaxed);
    uint64_t done = (rep >> COUNT_BITS) == (cur >> COUNT_BITS) ? rep & COUNT_MASK : 0;
    if (now_count <= done)
        return 0;
    atomic_store_explicit(rw, cur, memory_order_relaxed);
    return now_count - done;
}

struct pending {
    _Atomic uint64_t *reported;
    uint64_t value;
};

int
dp_policy_usage_report(const struct dp_snapshot *s, dp_policy_send_fn send, void *ctx)
{
    struct dp_buckets *b = s ? s->buckets : NULL;
    if (!b)
        return 0;
    /* Nothing moved since the last successful report: skip the walk over every key. */
    uint64_t changed = atomic_load_explicit(&b->changed, memory_order_relaxed);
    if (changed == b->reported_changed)
        return 0;
    size_t cap = 0, n = 0;
    Edge__V1__UsageCount *counts = NULL, **ptrs = NULL;
    struct pending *pend = NULL;
    int ret = 0;
    for (size_t i = 0; i < s->keys.n; i++) {
        const struct dp_key *k = &s->keys.keys[i];
        for (uint16_t j = 0; j < k->n_plans; j++) {
            const struct dp_plan *p = &s->plans[s->keys.plan_refs[k->plans_off + j]];
            uint64_t uid = dp_policy_usage_id(p->id, k->id_hash);
            _Atomic uint64_t *w = dp_buckets_find(b, uid);
            if (!w)
                continue;
            uint64_t cur = atomic_load_explicit(w, memory_order_relaxed);
            _Atomic uint64_t *rw = dp_buckets_get(b, reported_id(uid));
            if (!rw)
                continue;
            uint64_t rep = atomic_load_explicit(rw, memory_order_relaxed);
            uint64_t tag = cur >> COUNT_BITS;
            uint64_t done = (rep >> COUNT_BITS) == tag ? rep & COUNT_MASK : 0;
            uint64_t now_count = cur & COUNT_MASK;
            if (tag == 0 || now_count <= done)
                continue;
            if (n == cap) {
                size_t nc = cap ? cap * 2 : 64;
                Edge__V1__UsageCount *c2 = realloc(counts, nc * sizeof(*c2));
                if (!c2) {
                    ret = -ENOMEM;
                    goto out;
                }
                counts = c2;
                struct pending *p2 = realloc(pend, nc * sizeof(*p2));
                if (!p2) {
                    ret = -ENOMEM;
                    goto out;
                }
                pend = p2;
                cap = nc;
            }
            Edge__V1__UsageCount init = EDGE__V1__USAGE_COUNT__INIT;
            counts[n] = init;
            counts[n].key_id = (char *)k->id;
            counts[n].plan = (char *)p->name;
            counts[n].period_start = (int64_t)(tag - 1) * 86400;
            counts[n].count = now_count - done;
            pend[n].reported = rw;
            pend[n].value = cur;
            n++;
        }
    }
    if (n == 0) {
        b->reported_changed = changed;
        goto out;
    }
    ptrs = malloc(n * sizeof(*ptrs));
    if (!ptrs) {
        ret = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        ptrs[i] = &counts[i];
    Edge__V1__UsageReport r = EDGE__V1__USAGE_REPORT__INIT;
    r.counts = ptrs;
    r.n_counts = n;
    ret = send(ctx, &r);
    if (ret == 0) {
        for (size_t i = 0; i < n; i++)
            atomic_store_explicit(pend[i].reported, pend[i].value, memory_order_relaxed);
        b->reported_changed = changed;
        ret = (int)n;
    }
out:
    free(ptrs);
    free(counts);
    free(pend);
    return ret;
}
