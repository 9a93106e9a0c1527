#include "watch/lease.h"

#include "log.h"
#include "pb.h"
#include "period.h"
#include "watch/usage.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DAY_S 86400
/* Ledgers of periods that ended this long ago go at the next sweep. */
#define KEEP_ENDED_S DAY_S
/* A recall unanswered this long no longer holds up the waiters. */
#define RECALL_WAIT_S 2

struct holder {
    void *node;
    uint64_t ref;  /* the node's handle, echoed in grants and recalls */
    uint64_t held; /* leased to it and not reported used */
    bool recalled; /* a recall is out, unanswered */
    int64_t recalled_at;
};

struct waiter {
    void *node;
    uint64_t ref;
};

struct entry {
    char *key_id, *plan;
    int64_t period_start, period_end;
    uint64_t limit; /* 0: the plan has no quota (any amount is granted) */
    uint64_t used;
    struct holder *h;
    size_t n_h;
    struct waiter *wq;
    size_t n_w;
    struct entry *next;
};

struct cp_leases {
    struct cp_store *st;
    cp_leases_emit_fn emit;
    struct entry **slots;
    size_t mask, n;
    size_t sweep_at;
    unsigned nodes; /* connected, as of the last message */
};

static uint64_t
hash_of(const char *key_id, const char *plan, int64_t period_start)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = key_id; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL;
    for (const char *p = plan; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h ^= (uint64_t)period_start * 0x9e3779b97f4a7c15ULL;
    return h ^ h >> 31;
}

struct cp_leases *
cp_leases_new(struct cp_store *st, cp_leases_emit_fn emit)
{
    struct cp_leases *l = edge_xcalloc(1, sizeof(*l));
    l->st = st;
    l->emit = emit;
    l->mask = 1023;
    l->slots = edge_xcalloc(l->mask + 1, sizeof(*l->slots));
    l->sweep_at = 4096;
    return l;
}

static void
entry_free(struct entry *e)
{
    free(e->key_id);
    free(e->plan);
    free(e->h);
    free(e->wq);
    free(e);
}

void
cp_leases_free(struct cp_leases *l)
{
    if (!l)
        return;
    for (size_t i = 0; i <= l->mask; i++)
        while (l->slots[i]) {
            struct entry *e = l->slots[i];
            l->slots[i] = e->next;
            entry_free(e);
        }
    free(l->slots);
    free(l);
}

static struct entry **
slot_of(const struct cp_leases *l, const char *key_id, const char *plan, int64_t period_start)
{
    return &l->slots[hash_of(key_id, plan, period_start) & l->mask];
}

static struct entry *
find(const struct cp_leases *l, const char *key_id, const char *plan, int64_t period_start)
{
    for (struct entry *e = *slot_of(l, key_id, plan, period_start); e; e = e->next)
        if (e->period_start == period_start && strcmp(e->key_id, key_id) == 0 &&
            strcmp(e->plan, plan) == 0)
            return e;
    return NULL;
}

/* The end of the quota period that starts at start; -EINVAL when start is not where such a
 * period starts (a node with another idea of the plan or of the time). */
static int
period_end(Edge__V1__QuotaPeriod period, int64_t start, int64_t *ret_end)
{
    int64_t s = 0;
    if (edge_period_of((int)period, start, &s, ret_end) < 0 || s != start)
        return -EINVAL;
    return 0;
}

/* The plan's current quota for the entry (plans change; a lease request is rare enough to read
 * it every time). 0, or -ENOENT (no such plan, or one without a quota: the node should not
 * have asked), -EINVAL (the period does not match the plan's). */
static int
load_limit(struct cp_leases *l, const char *plan, int64_t period_start, uint64_t *ret_limit,
           int64_t *ret_end)
{
    Edge__V1__UsagePlan *p = NULL;
    struct cp_store_err err = {0};
    int rc = cp_store_plan_get(l->st, plan, &p, &err);
    if (rc < 0)
        return rc;
    if (!p->quota || !p->quota->limit ||
        p->quota->period == EDGE__V1__QUOTA_PERIOD__QUOTA_PERIOD_NONE)
        rc = -ENOENT;
    else if ((rc = period_end(p->quota->period, period_start, ret_end)) == 0)
        *ret_limit = p->quota->limit;
    edge_pb_free(p);
    return rc;
}

static void
sweep(struct cp_leases *l, int64_t now_s)
{
    for (size_t i = 0; i <= l->mask; i++) {
        struct entry **pp = &l->slots[i];
        while (*pp) {
            struct entry *e = *pp;
            if (e->period_end + KEEP_ENDED_S < now_s && e->n_w == 0) {
                *pp = e->next;
                entry_free(e);
                l->n--;
            } else {
                pp = &e->next;
            }
        }
    }
    l->sweep_at = l->n * 2 > 4096 ? l->n * 2 : 4096;
}

static void
grow(struct cp_leases *l)
{
    size_t nmask = l->mask * 2 + 1;
    struct entry **ns = edge_xcalloc(nmask + 1, sizeof(*ns));
    for (size_t i = 0; i <= l->mask; i++)
        while (l->slots[i]) {
            struct entry *e = l->slots[i];
            l->slots[i] = e->next;
            struct entry **s = &ns[hash_of(e->key_id, e->plan, e->period_start) & nmask];
            e->next = *s;
            *s = e;
        }
    free(l->slots);
    l->slots = ns;
    l->mask = nmask;
}

/* The entry, created with its period's persisted usage; NULL when the request makes no sense
 * (logged). */
static struct entry *
entry_get(struct cp_leases *l, const char *key_id, const char *plan, int64_t period_start,
          int64_t now_s)
{
    struct entry *e = find(l, key_id, plan, period_start);
    if (e)
        return e;
    uint64_t limit = 0, used = 0;
    int64_t end = 0;
    if (load_limit(l, plan, period_start, &limit, &end) < 0)
        return NULL;
    struct cp_store_err err = {0};
    if (cp_store_usage_sum(l->st, key_id, plan, period_start, end, &used, &err) < 0) {
        edge_log_warn("leases: usage of key %s under plan %s: %s", key_id, plan, err.message);
        return NULL;
    }
    if (l->n >= l->sweep_at)
        sweep(l, now_s);
    e = edge_xcalloc(1, sizeof(*e));
    e->key_id = edge_pb_strdup_heap(key_id);
    e->plan = edge_pb_strdup_heap(plan);
    e->period_start = period_start;
    e->period_end = end;
    e->limit = limit;
    e->used = used;
    struct entry **s = slot_of(l, key_id, plan, period_start);
    e->next = *s;
    *s = e;
    if (++l->n > l->mask + 1)
        grow(l);
    return e;
}

static struct holder *
holder_of(struct entry *e, void *node, bool add)
{
    for (size_t i = 0; i < e->n_h; i++)
        if (e->h[i].node == node)
            return &e->h[i];
    if (!add)
        return NULL;
    struct holder *nh = realloc(e->h, (e->n_h + 1) * sizeof(*nh));
    if (!nh)
        return NULL;
    e->h = nh;
    e->h[e->n_h] = (struct holder){.node = node};
    return &e->h[e->n_h++];
}

static void
add_used(struct entry *e, struct holder *h, uint64_t n)
{
    e->used += n;
    if (h)
        h->held -= n < h->held ? n : h->held;
}

static uint64_t
available(const struct entry *e)
{
    uint64_t out = e->used;
    for (size_t i = 0; i < e->n_h; i++)
        out += e->h[i].held;
    return out >= e->limit ? 0 : e->limit - out;
}

static void
emit(struct cp_leases *l, void *node, const struct entry *e, uint64_t ref, uint64_t granted,
     bool exhausted, bool recall, bool *ret_ok)
{
    Edge__V1__QuotaGrant g = EDGE__V1__QUOTA_GRANT__INIT;
    g.ref = ref;
    g.period_start = e->period_start;
    g.granted = granted;
    g.exhausted = exhausted;
    g.recall = recall;
    bool ok = l->emit(node, &g);
    if (ret_ok)
        *ret_ok = ok;
}

/* Grants node a share of what is left; true when something was granted. */
static bool
grant(struct cp_leases *l, struct entry *e, void *node, uint64_t ref, unsigned nodes)
{
    uint64_t avail = available(e);
    if (avail == 0)
        return false;
    struct holder *h = holder_of(e, node, true);
    if (!h)
        return false;
    uint64_t n = avail / (2 * (uint64_t)(nodes ? nodes : 1));
    if (n == 0)
        n = 1;
    if (n > CP_LEASE_CHUNK_MAX)
        n = CP_LEASE_CHUNK_MAX;
    bool ok = false;
    emit(l, node, e, ref, n, false, false, &ok);
    if (ok)
        h->held += n;
    return ok;
}

static bool
recalls_out(const struct entry *e)
{
    for (size_t i = 0; i < e->n_h; i++)
        if (e->h[i].recalled)
            return true;
    return false;
}

/* Once every recall is answered: each waiter gets a share of what came back, or exhausted. */
static void
serve_waiters(struct cp_leases *l, struct entry *e, unsigned nodes)
{
    if (recalls_out(e) || e->n_w == 0)
        return;
    struct waiter *wq = e->wq;
    size_t n = e->n_w;
    e->wq = NULL;
    e->n_w = 0;
    for (size_t i = 0; i < n; i++)
        if (!grant(l, e, wq[i].node, wq[i].ref, nodes))
            emit(l, wq[i].node, e, wq[i].ref, 0, true, false, NULL);
    free(wq);
}

static void
ask(struct cp_leases *l, struct entry *e, void *node, uint64_t ref, unsigned nodes, int64_t now_s)
{
    for (size_t i = 0; i < e->n_h; i++)
        if (e->h[i].recalled && now_s - e->h[i].recalled_at >= RECALL_WAIT_S)
            e->h[i].recalled = false; /* a node that does not answer keeps what it holds */
    serve_waiters(l, e, nodes);
    if (grant(l, e, node, ref, nodes))
        return;
    /* Nothing left unleased: recall what the fleet holds, and wait for it. */
    bool waiting = false;
    for (size_t i = 0; i < e->n_h; i++) {
        struct holder *h = &e->h[i];
        if (h->held == 0 || h->recalled)
            continue;
        bool ok = false;
        emit(l, h->node, e, h->ref, 0, false, true, &ok);
        h->recalled = ok;
        h->recalled_at = now_s;
    }
    if (recalls_out(e)) {
        struct waiter *nw = realloc(e->wq, (e->n_w + 1) * sizeof(*nw));
        if (nw) {
            e->wq = nw;
            e->wq[e->n_w++] = (struct waiter){.node = node, .ref = ref};
            waiting = true;
        }
    }
    if (!waiting)
        emit(l, node, e, ref, 0, true, false, NULL);
}

void
cp_leases_on_message(struct cp_leases *l, void *node, const Edge__V1__QuotaLeases *m,
                     unsigned nodes, int64_t now_s)
{
    l->nodes = nodes;
    for (size_t i = 0; m && i < m->n_leases; i++) {
        const Edge__V1__QuotaLease *q = m->leases[i];
        if (!q->key_id || !q->key_id[0] || !q->plan || !q->plan[0])
            continue;
        /* What the node admitted since its last report is usage, whatever happens next; a
         * count the store refuses (past int64) counts nowhere. */
        uint64_t used = q->used;
        if (used) {
            int rc = cp_usage_add(l->st, q->key_id, q->plan, q->period_start, used, now_s);
            if (rc < 0) {
                edge_log_warn("leases: usage of key %s under plan %s not stored (%d)", q->key_id,
                              q->plan, rc);
                used = 0;
            }
        }
        struct entry *e = entry_get(l, q->key_id, q->plan, q->period_start, now_s);
        if (!e) {
            if (!q->release) {
                Edge__V1__QuotaGrant g = EDGE__V1__QUOTA_GRANT__INIT;
                g.ref = q->ref;
                g.period_start = q->period_start;
                g.exhausted = true; /* no such plan or quota: the node's config is behind */
                (void)l->emit(node, &g);
            }
            continue;
        }
        struct holder *h = holder_of(e, node, !q->release);
        add_used(e, h, used);
        if (q->release) {
            /* Only an answer to a recall gives anything back (a late or unasked release cannot
             * make the ledger forget requests the node may still admit). */
            if (h && h->recalled) {
                h->held -= q->returned < h->held ? q->returned : h->held;
                h->recalled = false;
            }
            serve_waiters(l, e, nodes);
            continue;
        }
        if (h)
            h->ref = q->ref;
        uint64_t limit = 0;
        int64_t end = 0;
        if (load_limit(l, q->plan, q->period_start, &limit, &end) == 0)
            e->limit = limit; /* the plan may have been updated since */
        ask(l, e, node, q->ref, nodes, now_s);
    }
}

void
cp_leases_on_report(struct cp_leases *l, void *node, const Edge__V1__UsageReport *r)
{
    for (size_t i = 0; r && i < r->n_counts; i++) {
        const Edge__V1__UsageCount *c = r->counts[i];
        if (!c->key_id || !c->plan)
            continue;
        struct entry *e = c->count <= INT64_MAX ? find(l, c->key_id, c->plan, c->period_start)
                                                : NULL; /* the store refused it too */
        if (e)
            add_used(e, holder_of(e, node, false), c->count);
    }
}

void
cp_leases_node_gone(struct cp_leases *l, void *node)
{
    for (size_t i = 0; i <= l->mask; i++)
        for (struct entry *e = l->slots[i]; e; e = e->next) {
            struct holder *h = holder_of(e, node, false);
            size_t j = 0;
            for (size_t k = 0; k < e->n_w; k++)
                if (e->wq[k].node != node)
                    e->wq[j++] = e->wq[k];
            e->n_w = j;
            if (!h)
                continue;
            *h = e->h[--e->n_h];
            serve_waiters(l, e, l->nodes);
        }
}

bool
cp_leases_peek(const struct cp_leases *l, const char *key_id, const char *plan,
               int64_t period_start, uint64_t *ret_used, uint64_t *ret_held)
{
    const struct entry *e = find(l, key_id, plan, period_start);
    if (!e)
        return false;
    uint64_t held = 0;
    for (size_t i = 0; i < e->n_h; i++)
        held += e->h[i].held;
    *ret_used = e->used;
    *ret_held = held;
    return true;
}
