#include "policy/policy.h"

#include "http/h1.h"
#include "policy/lease.h"
#include "policy/usage.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int
dp_policy_find_key(const struct dp_route_policy *rp, const struct dp_h1_head *h, const char *base,
                   const char *query, size_t query_len, const char **ret, size_t *ret_len)
{
    if (!rp->key_in_query) {
        for (unsigned i = 0; i < h->n; i++) {
            const struct dp_h1_field *f = &h->f[i];
            if (dp_h1_strcaseeq(base + f->name_off, f->name_len, rp->key_name, rp->key_name_len) &&
                f->val_len) {
                *ret = base + f->val_off;
                *ret_len = f->val_len;
                return 0;
            }
        }
        return -ENOENT;
    }
    /* query is "?a=b&c=d" or empty; keys are URL-safe, so no percent-decoding. */
    const char *p = query, *end = query + query_len;
    if (p < end && *p == '?')
        p++;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *e = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(e - p));
        if (eq && (size_t)(eq - p) == rp->key_name_len &&
            memcmp(p, rp->key_name, rp->key_name_len) == 0 && e > eq + 1) {
            *ret = eq + 1;
            *ret_len = (size_t)(e - eq - 1);
            return 0;
        }
        p = e + 1;
    }
    return -ENOENT;
}

static bool
plan_covers(const struct dp_plan *p, const struct dp_stage *stage)
{
    for (size_t i = 0; i < p->n_stages; i++)
        if (p->stages[i] == stage)
            return true;
    return false;
}

/* The tightest admitted throttle so far, for the RateLimit-* headers. */
/* Appends "name" + decimal v + CRLF at w; returns the end. headers[] fits three of these
 * with 10-digit values (3 x (21 + 10 + 2) < 128). */
static char *
put_header(char *w, const char *name, uint32_t v)
{
    size_t n = strlen(name);
    memcpy(w, name, n);
    w += n;
    char digits[10];
    int d = 0;
    do {
        digits[d++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (d)
        *w++ = digits[--d];
    *w++ = '\r';
    *w++ = '\n';
    return w;
}

struct tight {
    bool any;
    struct dp_throttle_result r;
};

/* false: rejected (ret filled with 429). */
static bool
take(struct dp_buckets *b, uint64_t id, const struct dp_throttle *t, uint64_t now_ns,
     struct tight *tight, struct dp_policy_verdict *ret)
{
    if (!dp_throttle_on(t))
        return true;
    _Atomic uint64_t *w = dp_buckets_get(b, id);
    if (!w)
        return true; /* table full: fail open, counted in b->full */
    struct dp_throttle_result r;
    if (!dp_throttle_take(w, t, dp_buckets_fleet(b), now_ns, &r)) {
        ret->status = 429;
        ret->message = "too many requests";
        ret->throttled = true;
        snprintf(ret->headers, sizeof(ret->headers),
                 "Retry-After: %u\r\nRateLimit-Limit: %u\r\nRateLimit-Remaining: 0\r\n"
                 "RateLimit-Reset: %u\r\n",
                 r.retry_s, r.limit, r.retry_s);
        return false;
    }
    if (!tight->any || r.remaining < tight->r.remaining)
        tight->r = r;
    tight->any = true;
    return true;
}

static void
deny(struct dp_policy_verdict *ret, int status, const char *msg)
{
    ret->status = status;
    ret->message = msg;
}

static void
quota_exceeded(struct dp_policy_verdict *ret, int64_t end, int64_t now_s)
{
    deny(ret, 429, "quota exceeded");
    snprintf(ret->headers, sizeof(ret->headers), "Retry-After: %lld\r\n", (long long)(end - now_s));
}

/* Where a quota-limited request stands with its lease. */
enum lease_step { LEASE_GO, LEASE_SHARE, LEASE_STOP };

static enum lease_step
lease_step(struct dp_buckets *b, const struct dp_plan *plan, const struct dp_key *k, uint64_t uid,
           int64_t start, bool take, unsigned flags, struct dp_policy_verdict *ret)
{
    struct dp_leases *leases = atomic_load_explicit(&b->leases, memory_order_acquire);
    if ((flags & DP_POLICY_NO_LEASE) || !dp_leases_on(leases))
        return LEASE_SHARE;
    _Atomic uint64_t *lw = dp_buckets_get(b, dp_policy_lease_id(uid));
    if (!lw)
        return LEASE_SHARE;
    switch (dp_lease_take(lw, start, take)) {
    case DP_LEASE_TAKEN:
        return LEASE_GO;
    case DP_LEASE_EXHAUSTED:
        return LEASE_STOP;
    case DP_LEASE_NONE:
        break;
    }
    if (dp_leases_need(leases, uid, k->id, plan->name, start) < 0)
        return LEASE_SHARE;
    ret->status = DP_POLICY_PARKED;
    return LEASE_STOP;
}

void
dp_policy_check(const struct dp_snapshot *s, const struct dp_stage *stage,
                const struct dp_route *route, const char *key, size_t key_len, uint64_t now_ns,
                int64_t now_s, unsigned flags, struct dp_policy_verdict *ret)
{
    memset(ret, 0, sizeof(*ret));
    const struct dp_route_policy *rp = &route->policy;
    const struct dp_key *k = NULL;
    const struct dp_plan *plan = NULL;
    if (rp->key_required) {
        if (!key) {
            deny(ret, 401, "missing API key");
            return;
        }
        uint8_t sha[32];
        dp_key_hash(key, key_len, sha);
        if (!dp_keyindex_find(s->keys, sha, &ret->key_buf)) {
            deny(ret, 401, "invalid API key");
            return;
        }
        k = ret->key = &ret->key_buf;
        switch (s->revoked ? dp_revoked_check(s->revoked, k->id_hash) : DP_REVOKED_NONE) {
        case DP_REVOKED_REMOVED: /* revoked by a delta not compiled yet */
            ret->key = NULL;
            deny(ret, 401, "invalid API key");
            return;
        case DP_REVOKED_DISABLED:
            deny(ret, 403, "API key disabled");
            return;
        case DP_REVOKED_NONE:
            break;
        }
        if (!k->enabled) {
            deny(ret, 403, "API key disabled");
            return;
        }
        if (k->expires_at && now_s >= k->expires_at) {
            deny(ret, 403, "API key expired");
            return;
        }
        size_t n_names;
        const uint32_t *names = dp_keyindex_planset(s->keys, k->planset, &n_names);
        for (size_t i = 0; i < n_names && !plan; i++) {
            uint32_t pi = names[i] < s->n_plan_of_name ? s->plan_of_name[names[i]] : DP_NO_PLAN;
            if (pi != DP_NO_PLAN && plan_covers(&s->plans[pi], stage))
                plan = &s->plans[pi];
        }
        if (!plan) {
            deny(ret, 403, "API key not allowed on this stage");
            return;
        }
        ret->plan = plan;
    }
    struct dp_buckets *b = s->buckets;
    if (!b)
        return;
    bool quota = plan && plan->quota_limit && plan->period != DP_QUOTA_NONE;
    int64_t start = 0, end = 0;
    if (plan && dp_quota_period(quota ? plan->period : DP_QUOTA_DAY, now_s, &start, &end) < 0)
        plan = NULL; /* a clock past what gmtime takes: no counting */
    /* The key's usage word under this plan names its lease word too: hashed once. */
    uint64_t uid = plan ? dp_policy_usage_id(plan->id, k->id_hash) : 0;
    if (quota && plan && lease_step(b, plan, k, uid, start, false, flags, ret) == LEASE_STOP) {
        if (!ret->status)
            quota_exceeded(ret, end, now_s);
        return; /* before any throttle is charged: a parked request comes back */
    }
    struct tight tight = {0};
    if (!take(b, stage->policy_id, &stage->throttle, now_ns, &tight, ret))
        return;
    if (dp_throttle_on(&rp->throttle) &&
        !take(b, dp_policy_mix(stage->policy_id, rp->id), &rp->throttle, now_ns, &tight, ret))
        return;
    if (plan) {
        uint64_t pk = dp_policy_mix(plan->id, k->id_hash);
        if (!take(b, pk, &plan->throttle, now_ns, &tight, ret))
            return;
        for (size_t i = 0; i < plan->n_routes; i++) {
            const struct dp_plan_route *pr = &plan->routes[i];
            if (pr->stage == stage && strcmp(pr->method, route->method) == 0 &&
                strcmp(pr->path, route->path) == 0) {
                if (!take(b, dp_policy_mix(pk, pr->id), &pr->throttle, now_ns, &tight, ret))
                    return;
                break;
            }
        }
        /* Every keyed request is counted (usage reports); the quota limits the count: by
         * lease, or without the control plane by the node's share. */
        uint64_t limit = UINT64_MAX;
        if (quota) {
            switch (lease_step(b, plan, k, uid, start, true, flags, ret)) {
            case LEASE_GO:
                break;
            case LEASE_STOP: /* another worker took the last one since the peek */
                if (!ret->status)
                    quota_exceeded(ret, end, now_s);
                return;
            case LEASE_SHARE: {
                unsigned fleet = dp_buckets_fleet(b);
                limit = (plan->quota_limit + fleet - 1) / fleet;
                break;
            }
            }
        }
        _Atomic uint64_t *w = dp_buckets_get(b, uid);
        if (w) {
            if (!dp_quota_take(w, start, limit, NULL)) {
                quota_exceeded(ret, end, now_s);
                return;
            }
            atomic_fetch_add_explicit(&b->changed, 1, memory_order_relaxed);
        }
    }
    if (tight.any) {
        ret->throttled = true;
        /* Every admitted throttled request writes these: no printf on that path. */
        char *w = ret->headers;
        w = put_header(w, "RateLimit-Limit: ", tight.r.limit);
        w = put_header(w, "RateLimit-Remaining: ", tight.r.remaining);
        w = put_header(w, "RateLimit-Reset: ", tight.r.reset_s);
        *w = '\0';
    }
}
