#include "policy/lease.h"

#include "policy/quota.h"
#include "policy/usage.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define NEED_QUEUE_MAX 1024
#define KEY_ID_MAX     16 /* "k-" + 12 hex digits */
#define PLAN_MAX       128
/* A need with no answer is asked again after this (a lost stream, a stuck control plane). */
#define ASK_AGAIN_S 1.0
/* "Exhausted" is trusted this long; then the next request asks again (the plan may have grown,
 * or usage been corrected). */
#define EXHAUSTED_TTL_S 5.0
#define ENTRIES_MAX     (1u << 20)
/* A node that starts waits this long for its first stream before the share decides (its own
 * counts start at zero: the share alone would admit a whole share again after a restart). */
#define START_GRACE_S 2.0

struct need {
    uint64_t uid;
    int64_t period_start;
    char key_id[KEY_ID_MAX];
    char plan[PLAN_MAX];
};

/* What the main thread knows of a (key, plan) it asked a lease for. */
struct entry {
    uint64_t uid; /* the usage word's name; also the `ref` on the wire */
    int64_t period_start;
    ev_tstamp asked_at;     /* 0: no request out */
    ev_tstamp exhausted_at; /* 0: not marked exhausted */
    struct entry *next;     /* hash chain */
    const char *plan;       /* interned: plans are few, (key, plan) entries many */
    char key_id[KEY_ID_MAX];
};

struct plan_name {
    struct plan_name *next;
    char name[];
};

struct dp_leases {
    atomic_bool on;
    struct dp_buckets *b;
    dp_leases_send_fn send;
    dp_leases_kick_fn kick;
    void *ctx;
    struct ev_loop *loop;
    ev_async async;

    pthread_mutex_t mu; /* guards q and n_q */
    struct need *q;     /* NEED_QUEUE_MAX, allocated on first need */
    size_t n_q;

    /* main thread */
    struct entry **slots;
    size_t mask, n_entries;
    uint64_t generation;
    bool up;            /* a stream is up */
    ev_tstamp created;  /* for START_GRACE_S */
    struct need *batch; /* drained from q */
    struct plan_name *plans;
};

static void on_needs(struct ev_loop *loop, ev_async *a, int revents);

struct dp_leases *
dp_leases_new(struct ev_loop *loop, dp_leases_send_fn send, dp_leases_kick_fn kick, void *ctx)
{
    struct dp_leases *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->mask = 255;
    l->slots = calloc(l->mask + 1, sizeof(*l->slots));
    if (!l->slots) {
        free(l);
        return NULL;
    }
    atomic_init(&l->on, true); /* requests wait for the first stream, a little */
    l->send = send;
    l->kick = kick;
    l->ctx = ctx;
    l->loop = loop;
    pthread_mutex_init(&l->mu, NULL);
    l->created = ev_now(loop);
    ev_async_init(&l->async, on_needs);
    l->async.data = l;
    ev_async_start(loop, &l->async);
    ev_unref(loop);
    return l;
}

void
dp_leases_free(struct dp_leases *l)
{
    if (!l)
        return;
    ev_ref(l->loop);
    ev_async_stop(l->loop, &l->async);
    for (size_t i = 0; i <= l->mask; i++) {
        struct entry *e = l->slots[i];
        while (e) {
            struct entry *next = e->next;
            free(e);
            e = next;
        }
    }
    free(l->slots);
    while (l->plans) {
        struct plan_name *p = l->plans;
        l->plans = p->next;
        free(p);
    }
    free(l->q);
    free(l->batch);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

void
dp_leases_attach(struct dp_leases *l, struct dp_buckets *b)
{
    if (l->b == b)
        return;
    l->b = b;
    atomic_store_explicit(&b->leases, l, memory_order_release);
}

void
dp_leases_detach(struct dp_leases *l)
{
    if (l->b)
        atomic_store_explicit(&l->b->leases, NULL, memory_order_release);
    l->b = NULL;
}

bool
dp_leases_on(const struct dp_leases *l)
{
    return l && atomic_load_explicit(&l->on, memory_order_relaxed);
}

int
dp_leases_need(struct dp_leases *l, uint64_t uid, const char *key_id, const char *plan,
               int64_t period_start)
{
    size_t kl = strlen(key_id), pl = strlen(plan);
    if (kl >= KEY_ID_MAX || pl >= PLAN_MAX)
        return -ENOSPC;
    int ret = 0;
    pthread_mutex_lock(&l->mu);
    if (!l->q)
        l->q = malloc(NEED_QUEUE_MAX * sizeof(*l->q));
    if (!l->q || l->n_q == NEED_QUEUE_MAX) {
        ret = -ENOSPC;
    } else {
        struct need *n = &l->q[l->n_q++];
        n->uid = uid;
        n->period_start = period_start;
        memcpy(n->key_id, key_id, kl + 1);
        memcpy(n->plan, plan, pl + 1);
    }
    pthread_mutex_unlock(&l->mu);
    if (ret == 0)
        ev_async_send(l->loop, &l->async);
    return ret;
}

/* ---- main thread ----------------------------------------------------------------------------- */

static struct entry **
slot_of(struct dp_leases *l, uint64_t uid)
{
    return &l->slots[(uid ^ uid >> 29) & l->mask];
}

static struct entry *
find(struct dp_leases *l, uint64_t uid)
{
    for (struct entry *e = *slot_of(l, uid); e; e = e->next)
        if (e->uid == uid)
            return e;
    return NULL;
}

static void
grow(struct dp_leases *l)
{
    size_t nmask = l->mask * 2 + 1;
    struct entry **ns = calloc(nmask + 1, sizeof(*ns));
    if (!ns)
        return; /* longer chains, still correct */
    for (size_t i = 0; i <= l->mask; i++) {
        struct entry *e = l->slots[i];
        while (e) {
            struct entry *next = e->next;
            struct entry **s = &ns[(e->uid ^ e->uid >> 29) & nmask];
            e->next = *s;
            *s = e;
            e = next;
        }
    }
    free(l->slots);
    l->slots = ns;
    l->mask = nmask;
}

static const char *
intern_plan(struct dp_leases *l, const char *name)
{
    for (struct plan_name *p = l->plans; p; p = p->next)
        if (strcmp(p->name, name) == 0)
            return p->name;
    size_t n = strlen(name);
    struct plan_name *p = malloc(sizeof(*p) + n + 1);
    if (!p)
        return NULL;
    memcpy(p->name, name, n + 1);
    p->next = l->plans;
    l->plans = p;
    return p->name;
}

static struct entry *
find_or_add(struct dp_leases *l, const struct need *n)
{
    struct entry *e = find(l, n->uid);
    if (e)
        return e;
    if (l->n_entries >= ENTRIES_MAX)
        return NULL;
    const char *plan = intern_plan(l, n->plan);
    if (!plan || !(e = calloc(1, sizeof(*e))))
        return NULL;
    e->uid = n->uid;
    e->plan = plan;
    memcpy(e->key_id, n->key_id, sizeof(e->key_id));
    struct entry **s = slot_of(l, n->uid);
    e->next = *s;
    *s = e;
    if (++l->n_entries > l->mask + 1)
        grow(l);
    return e;
}

static _Atomic uint64_t *
lease_word(struct dp_leases *l, uint64_t uid)
{
    return dp_buckets_get(l->b, dp_policy_lease_id(uid));
}

static void
lease_msg(Edge__V1__QuotaLease *m, struct entry *e)
{
    Edge__V1__QuotaLease init = EDGE__V1__QUOTA_LEASE__INIT;
    *m = init;
    m->key_id = e->key_id;
    m->plan = (char *)e->plan;
    m->period_start = e->period_start;
    m->ref = e->uid;
}

static void drop_all(struct dp_leases *l);

/* Sends msgs[0..n) in one message: 0, or the send's negative errno. */
static int
send_batch(struct dp_leases *l, Edge__V1__QuotaLease *msgs, size_t n)
{
    if (n == 0)
        return 0;
    Edge__V1__QuotaLease **ptrs = malloc(n * sizeof(*ptrs));
    if (!ptrs)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        ptrs[i] = &msgs[i];
    Edge__V1__QuotaLeases batch = EDGE__V1__QUOTA_LEASES__INIT;
    batch.leases = ptrs;
    batch.n_leases = n;
    int rc = l->send(l->ctx, &batch);
    free(ptrs);
    return rc;
}

static void
on_needs(struct ev_loop *loop, ev_async *a, int revents)
{
    (void)revents;
    struct dp_leases *l = a->data;
    if (!l->batch && !(l->batch = malloc(NEED_QUEUE_MAX * sizeof(*l->batch))))
        return; /* the needs stay queued; the parked requests time out to the share */
    pthread_mutex_lock(&l->mu);
    size_t n = l->n_q;
    if (n)
        memcpy(l->batch, l->q, n * sizeof(*l->batch));
    l->n_q = 0;
    pthread_mutex_unlock(&l->mu);
    if (!atomic_load(&l->on) || !l->b || !l->up)
        return; /* parked requests retry when a stream comes up, or time out to the share */

    ev_tstamp now = ev_now(loop);
    Edge__V1__QuotaLease *msgs = malloc((n ? n : 1) * sizeof(*msgs));
    struct entry **asked = malloc((n ? n : 1) * sizeof(*asked));
    size_t m = 0;
    for (size_t i = 0; msgs && asked && i < n; i++) {
        struct need *nd = &l->batch[i];
        struct entry *e = find_or_add(l, nd);
        if (!e)
            continue;
        if (e->period_start != nd->period_start) {
            e->period_start = nd->period_start; /* a new period: the old one's lease is gone */
            e->asked_at = 0;
            e->exhausted_at = 0;
        }
        if (e->asked_at && now - e->asked_at < ASK_AGAIN_S)
            continue; /* asked already (needs of several requests or workers coalesce) */
        lease_msg(&msgs[m], e);
        msgs[m].used = dp_policy_usage_claim(l->b, e->uid, e->period_start);
        asked[m++] = e;
    }
    int rc = m ? send_batch(l, msgs, m) : 0;
    if (rc == 0) {
        for (size_t i = 0; i < m; i++)
            asked[i]->asked_at = now;
    } else if (rc == -EAGAIN) {
        /* The stream is gone (the next tick sees it too): the share decides meanwhile. */
        l->up = false;
        atomic_store(&l->on, false);
        drop_all(l);
    }
    free(msgs);
    free(asked);
}

void
dp_leases_on_grants(struct dp_leases *l, Edge__V1__QuotaGrant *const *grants, size_t n)
{
    if (!l->b)
        return;
    ev_tstamp now = ev_now(l->loop);
    Edge__V1__QuotaLease *rel = malloc((n ? n : 1) * sizeof(*rel));
    size_t m = 0;
    bool kick = false;
    for (size_t i = 0; i < n; i++) {
        const Edge__V1__QuotaGrant *g = grants[i];
        struct entry *e = find(l, g->ref);
        if (!e)
            continue; /* not ours */
        _Atomic uint64_t *w = lease_word(l, e->uid);
        if (g->recall) {
            if (!rel)
                continue; /* unanswered: the control plane stops waiting after a while */
            /* Always answered, even for a period this node has left (nothing to give back). */
            bool same = g->period_start == e->period_start && w;
            lease_msg(&rel[m], e);
            rel[m].period_start = g->period_start;
            rel[m].release = true;
            rel[m].returned = same ? dp_lease_drain(w, e->period_start, false) : 0;
            rel[m].used = same ? dp_policy_usage_claim(l->b, e->uid, e->period_start) : 0;
            m++;
            continue;
        }
        if (!w || g->period_start != e->period_start)
            continue; /* a period that is over */
        dp_lease_grant(w, e->period_start, g->granted, g->exhausted);
        e->asked_at = 0;
        e->exhausted_at = g->exhausted ? now : 0;
        kick = true;
    }
    if (m)
        (void)send_batch(l, rel, m);
    free(rel);
    if (kick)
        l->kick(l->ctx);
}

/* Drops every lease (and exhausted mark) the node holds; parked requests retry. */
static void
drop_all(struct dp_leases *l)
{
    if (!l->b)
        return;
    for (size_t i = 0; i <= l->mask; i++)
        for (struct entry *e = l->slots[i]; e; e = e->next) {
            _Atomic uint64_t *w = lease_word(l, e->uid);
            if (w)
                (void)dp_lease_drain(w, e->period_start, true);
            e->asked_at = 0;
            e->exhausted_at = 0;
        }
    l->kick(l->ctx);
}

void
dp_leases_stream(struct dp_leases *l, bool up, uint64_t generation)
{
    if (up) {
        if (l->up && generation == l->generation)
            return;
        l->up = true;
        l->generation = generation;
        atomic_store(&l->on, true);
        drop_all(l); /* a new stream: the control plane knows none of the old leases */
        return;
    }
    bool starting = !l->up && ev_now(l->loop) - l->created < START_GRACE_S;
    if (starting || (!l->up && !atomic_load(&l->on)))
        return;
    l->up = false;
    atomic_store(&l->on, false);
    drop_all(l);
}

void
dp_leases_config_changed(struct dp_leases *l)
{
    bool any = false;
    if (!l->b)
        return;
    for (size_t i = 0; i <= l->mask; i++)
        for (struct entry *e = l->slots[i]; e; e = e->next)
            if (e->exhausted_at) {
                _Atomic uint64_t *w = lease_word(l, e->uid);
                if (w)
                    (void)dp_lease_drain(w, e->period_start, true);
                e->exhausted_at = 0;
                any = true;
            }
    if (any)
        l->kick(l->ctx);
}

void
dp_leases_tick(struct dp_leases *l)
{
    ev_tstamp now = ev_now(l->loop);
    if (!l->b)
        return;
    for (size_t i = 0; i <= l->mask; i++)
        for (struct entry *e = l->slots[i]; e; e = e->next) {
            if (e->exhausted_at && now - e->exhausted_at >= EXHAUSTED_TTL_S) {
                _Atomic uint64_t *w = lease_word(l, e->uid);
                if (w)
                    (void)dp_lease_drain(w, e->period_start, true);
                e->exhausted_at = 0;
            }
        }
}
