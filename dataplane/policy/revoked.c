#include "policy/revoked.h"

#include "policy/buckets.h"

#include <string.h>

#define TOMB UINT64_MAX

void
dp_revoked_init(struct dp_revoked *r)
{
    memset(r, 0, sizeof(*r));
    atomic_init(&r->live, 0);
    pthread_mutex_init(&r->mu, NULL);
}

void
dp_revoked_done(struct dp_revoked *r)
{
    pthread_mutex_destroy(&r->mu);
}

enum dp_revoked_kind
dp_revoked_check(const struct dp_revoked *r, uint64_t h)
{
    if (atomic_load_explicit(&r->live, memory_order_acquire) == 0)
        return DP_REVOKED_NONE;
    for (size_t i = h & (DP_REVOKED_SLOTS - 1), n = 0; n < DP_REVOKED_SLOTS;
         i = (i + 1) & (DP_REVOKED_SLOTS - 1), n++) {
        uint64_t k = atomic_load_explicit(&r->slots[i].key, memory_order_acquire);
        if (k == 0)
            return DP_REVOKED_NONE;
        if (k == h)
            return (enum dp_revoked_kind)(
                atomic_load_explicit(&r->slots[i].value, memory_order_acquire) & 3);
    }
    return DP_REVOKED_NONE;
}

/* Under mu. The slot holding h, or NULL. */
static struct dp_revoked_slot *
find_locked(struct dp_revoked *r, uint64_t h)
{
    for (size_t i = h & (DP_REVOKED_SLOTS - 1), n = 0; n < DP_REVOKED_SLOTS;
         i = (i + 1) & (DP_REVOKED_SLOTS - 1), n++) {
        uint64_t k = atomic_load_explicit(&r->slots[i].key, memory_order_relaxed);
        if (k == 0)
            return NULL;
        if (k == h)
            return &r->slots[i];
    }
    return NULL;
}

static void
set_locked(struct dp_revoked *r, uint64_t h, uint64_t revision, enum dp_revoked_kind kind)
{
    struct dp_revoked_slot *s = find_locked(r, h);
    uint64_t value = revision << 2 | (uint64_t)kind;
    if (s) {
        if (kind == DP_REVOKED_NONE) {
            atomic_store_explicit(&s->key, TOMB, memory_order_release);
            atomic_fetch_sub_explicit(&r->live, 1, memory_order_release);
        } else {
            atomic_store_explicit(&s->value, value, memory_order_release);
        }
        return;
    }
    if (kind == DP_REVOKED_NONE || r->used >= DP_REVOKED_SLOTS / 4 * 3)
        return; /* nothing to drop, or full: the compile refuses the key, a little later */
    for (size_t i = h & (DP_REVOKED_SLOTS - 1);; i = (i + 1) & (DP_REVOKED_SLOTS - 1)) {
        if (atomic_load_explicit(&r->slots[i].key, memory_order_relaxed) != 0)
            continue; /* tombstones stay until the reset: a reader may be probing past them */
        atomic_store_explicit(&r->slots[i].value, value, memory_order_relaxed);
        atomic_store_explicit(&r->slots[i].key, h, memory_order_release);
        r->used++;
        atomic_fetch_add_explicit(&r->live, 1, memory_order_release);
        return;
    }
}

void
dp_revoked_note_update(struct dp_revoked *r, const Edge__V1__ConfigUpdate *upd)
{
    if (!upd || upd->full || upd->revision == 0)
        return;
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < upd->n_remove; i++) {
        const Edge__V1__ResourceRef *ref = upd->remove[i];
        if (ref->type == EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_KEY && ref->id)
            set_locked(r, dp_policy_hash_str(0x6b65, ref->id), upd->revision, DP_REVOKED_REMOVED);
    }
    for (size_t i = 0; i < upd->n_put; i++) {
        const Edge__V1__Resource *res = upd->put[i];
        if (res->body_case != EDGE__V1__RESOURCE__BODY_KEY || !res->key || !res->key->id)
            continue;
        set_locked(r, dp_policy_hash_str(0x6b65, res->key->id), upd->revision,
                   res->key->enabled ? DP_REVOKED_NONE : DP_REVOKED_DISABLED);
    }
    pthread_mutex_unlock(&r->mu);
}

void
dp_revoked_expire(struct dp_revoked *r, uint64_t min_revision)
{
    pthread_mutex_lock(&r->mu);
    if (atomic_load(&r->live) > 0) {
        for (size_t i = 0; i < DP_REVOKED_SLOTS; i++) {
            struct dp_revoked_slot *s = &r->slots[i];
            uint64_t k = atomic_load_explicit(&s->key, memory_order_relaxed);
            if (k == 0 || k == TOMB)
                continue;
            if ((atomic_load_explicit(&s->value, memory_order_relaxed) >> 2) <= min_revision) {
                atomic_store_explicit(&s->key, TOMB, memory_order_release);
                atomic_fetch_sub_explicit(&r->live, 1, memory_order_release);
            }
        }
    }
    if (atomic_load(&r->live) == 0 && r->used > 0) {
        /* Nothing in force: readers return at the empty check, so the slots can be reset. */
        for (size_t i = 0; i < DP_REVOKED_SLOTS; i++)
            atomic_store_explicit(&r->slots[i].key, 0, memory_order_relaxed);
        r->used = 0;
    }
    pthread_mutex_unlock(&r->mu);
}
