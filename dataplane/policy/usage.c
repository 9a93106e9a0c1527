#include "policy/usage.h"

#include "policy/quota.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

/* What a report walk collects: the counts to send and the words to mark reported. */
struct walk {
    const struct dp_snapshot *s;
    struct dp_buckets *b;
    Edge__V1__UsageCount *counts;
    struct pending *pend;
    char (*ids)[DP_KEY_ID_LEN + 1];
    size_t n, cap;
};

static int
walk_reserve(struct walk *wk)
{
    if (wk->n < wk->cap)
        return 0;
    size_t nc = wk->cap ? wk->cap * 2 : 64;
    Edge__V1__UsageCount *c2 = realloc(wk->counts, nc * sizeof(*c2));
    if (c2)
        wk->counts = c2;
    struct pending *p2 = realloc(wk->pend, nc * sizeof(*p2));
    if (p2)
        wk->pend = p2;
    char(*i2)[DP_KEY_ID_LEN + 1] = realloc(wk->ids, nc * sizeof(*i2));
    if (i2)
        wk->ids = i2;
    if (!c2 || !p2 || !i2)
        return -ENOMEM;
    wk->cap = nc;
    return 0;
}

static int
walk_key(void *ctx, const struct dp_key *k, const uint8_t sha256[32], const uint32_t *plan_ids,
         size_t n_plans)
{
    (void)sha256;
    struct walk *wk = ctx;
    const struct dp_snapshot *s = wk->s;
    for (size_t j = 0; j < n_plans; j++) {
        uint32_t pi = plan_ids[j] < s->n_plan_of_name ? s->plan_of_name[plan_ids[j]] : DP_NO_PLAN;
        if (pi == DP_NO_PLAN)
            continue;
        const struct dp_plan *p = &s->plans[pi];
        uint64_t uid = dp_policy_usage_id(p->id, k->id_hash);
        _Atomic uint64_t *w = dp_buckets_find(wk->b, uid);
        if (!w)
            continue;
        uint64_t cur = atomic_load_explicit(w, memory_order_relaxed);
        _Atomic uint64_t *rw = dp_buckets_get(wk->b, reported_id(uid));
        if (!rw)
            continue;
        uint64_t rep = atomic_load_explicit(rw, memory_order_relaxed);
        uint64_t tag = cur >> COUNT_BITS;
        uint64_t done = (rep >> COUNT_BITS) == tag ? rep & COUNT_MASK : 0;
        uint64_t now_count = cur & COUNT_MASK;
        if (tag == 0 || now_count <= done)
            continue;
        if (walk_reserve(wk) < 0)
            return -ENOMEM;
        size_t n = wk->n++;
        memcpy(wk->ids[n], k->id, sizeof(wk->ids[n]));
        Edge__V1__UsageCount init = EDGE__V1__USAGE_COUNT__INIT;
        wk->counts[n] = init;
        wk->counts[n].plan = (char *)p->name;
        wk->counts[n].period_start = (int64_t)(tag - 1) * 86400;
        wk->counts[n].count = now_count - done;
        wk->pend[n].reported = rw;
        wk->pend[n].value = cur;
    }
    return 0;
}

int
dp_policy_usage_report(const struct dp_snapshot *s, dp_policy_send_fn send, void *ctx)
{
    struct dp_buckets *b = s ? s->buckets : NULL;
    if (!b || !s->keystore)
        return 0;
    /* Nothing moved since the last successful report: skip the walk over every key. */
    uint64_t changed = atomic_load_explicit(&b->changed, memory_order_relaxed);
    if (changed == b->reported_changed)
        return 0;
    struct walk wk = {.s = s, .b = b};
    Edge__V1__UsageCount **ptrs = NULL;
    int ret = dp_keystore_each(s->keystore, walk_key, &wk);
    size_t n = wk.n;
    if (ret < 0)
        goto out;
    /* ids moved while the arrays grew: point at them only now. */
    for (size_t i = 0; i < n; i++)
        wk.counts[i].key_id = wk.ids[i];
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
        ptrs[i] = &wk.counts[i];
    Edge__V1__UsageReport r = EDGE__V1__USAGE_REPORT__INIT;
    r.counts = ptrs;
    r.n_counts = n;
    ret = send(ctx, &r);
    if (ret == 0) {
        for (size_t i = 0; i < n; i++)
            atomic_store_explicit(wk.pend[i].reported, wk.pend[i].value, memory_order_relaxed);
        b->reported_changed = changed;
        ret = (int)n;
    }
out:
    free(ptrs);
    free(wk.counts);
    free(wk.pend);
    free(wk.ids);
    return ret;
}
