#include "upstream/lb_hash.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* FNV-1a, then a 64-bit finalizer (splitmix64) so that near keys land far apart. */
static uint64_t
mix(const void *key, size_t len, uint64_t seed)
{
    const unsigned char *p = key;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    /* The seed goes in after the bytes: folded into the start it would let "a:1" with seed s
     * and "b:1" with seed s ^ 3 hash alike. */
    h += seed * 0x9e3779b97f4a7c15ULL;
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    return h ^ h >> 31;
}

uint64_t
dp_lb_hash_key(const void *key, size_t len)
{
    return mix(key, len, 0);
}

static int
point_cmp(const void *a, const void *b)
{
    const struct dp_ring_point *x = a, *y = b;
    if (x->h != y->h)
        return x->h < y->h ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

int
dp_lb_hash_build(struct dp_upstream *u, struct dp_arena *a)
{
    uint64_t total = 0;
    for (size_t i = 0; i < u->n_targets; i++)
        total += (uint64_t)u->targets[i].weight * DP_LB_HASH_POINTS;
    /* Many heavy targets: every target keeps its share, with fewer points each. */
    uint64_t div = total > DP_LB_HASH_MAX_POINTS ? total / DP_LB_HASH_MAX_POINTS + 1 : 1;
    size_t n = 0;
    for (size_t i = 0; i < u->n_targets; i++) {
        uint64_t k = (uint64_t)u->targets[i].weight * DP_LB_HASH_POINTS / div;
        n += k ? k : 1;
    }
    u->ring = dp_arena_alloc(a, (n ? n : 1) * sizeof(*u->ring));
    if (!u->ring)
        return -ENOMEM;
    size_t m = 0;
    for (size_t i = 0; i < u->n_targets; i++) {
        const char *name = u->targets[i].authority;
        uint64_t k = (uint64_t)u->targets[i].weight * DP_LB_HASH_POINTS / div;
        /* Points depend on the target's name only: the same target keeps its keys whatever
         * else the upstream holds, and on every node. */
        for (uint64_t j = 0; j < (k ? k : 1); j++) {
            u->ring[m].h = mix(name, strlen(name), j + 1);
            u->ring[m].idx = (uint32_t)i;
            m++;
        }
    }
    qsort(u->ring, m, sizeof(*u->ring), point_cmp);
    u->n_ring = m;
    return 0;
}

int
dp_lb_hash_pick(const struct dp_upstream *u, uint64_t key_hash, uint64_t skip, size_t *ret_idx)
{
    if (u->n_ring == 0)
        return -ENOENT;
    size_t lo = 0, hi = u->n_ring; /* first point with h >= key_hash */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (u->ring[mid].h < key_hash)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t k = 0; k < u->n_ring; k++) {
        size_t i = u->ring[(lo + k) % u->n_ring].idx;
        if (u->targets[i].resolved && !(i < 64 && (skip >> i) & 1)) {
            *ret_idx = i;
            return 0;
        }
    }
    return -ENOENT;
}
