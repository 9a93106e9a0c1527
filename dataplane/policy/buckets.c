#include "policy/buckets.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define DP_BUCKET_PROBES 64

int
dp_buckets_init(struct dp_buckets *b, size_t capacity)
{
    size_t n = 16;
    while (n < capacity)
        n <<= 1;
    /* calloc of a large block maps zero pages: only slots in use become resident. */
    b->slots = calloc(n, sizeof(*b->slots));
    if (!b->slots)
        return -ENOMEM;
    b->mask = n - 1;
    atomic_init(&b->fleet, 0);
    atomic_init(&b->full, 0);
    atomic_init(&b->changed, 0);
    return 0;
}

void
dp_buckets_done(struct dp_buckets *b)
{
    free(b->slots);
    b->slots = NULL;
    b->mask = 0;
}

static uint64_t
fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

uint64_t
dp_policy_hash(uint64_t seed, const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    /* A separator so that ("ab","c") and ("a","bc") differ when hashes are chained. */
    h ^= 0xff;
    h *= 0x100000001b3ULL;
    h = fmix64(h);
    return h ? h : 1;
}

uint64_t
dp_policy_hash_str(uint64_t seed, const char *s)
{
    return dp_policy_hash(seed, s ? s : "", s ? strlen(s) : 0);
}

uint64_t
dp_policy_mix(uint64_t a, uint64_t b)
{
    uint64_t h = fmix64(a ^ fmix64(b + 0x9e3779b97f4a7c15ULL));
    return h ? h : 1;
}

static struct dp_bucket *
probe(struct dp_buckets *b, uint64_t key, int claim)
{
    if (!b->slots || key == 0)
        return NULL;
    size_t i = (size_t)fmix64(key) & b->mask;
    for (unsigned n = 0; n < DP_BUCKET_PROBES; n++, i = (i + 1) & b->mask) {
        struct dp_bucket *s = &b->slots[i];
        uint64_t k = atomic_load_explicit(&s->key, memory_order_acquire);
        if (k == key)
            return s;
        if (k != 0)
            continue;
        if (!claim)
            return NULL;
        uint64_t expect = 0;
        if (atomic_compare_exchange_strong_explicit(&s->key, &expect, key, memory_order_acq_rel,
                                                    memory_order_acquire))
            return s;
        if (expect == key) /* another worker claimed it for the same key */
            return s;
    }
    if (claim)
        atomic_fetch_add_explicit(&b->full, 1, memory_order_relaxed);
    return NULL;
}

_Atomic uint64_t *
dp_buckets_get(struct dp_buckets *b, uint64_t key)
{
    struct dp_bucket *s = probe(b, key, 1);
    return s ? &s->val : NULL;
}

_Atomic uint64_t *
dp_buckets_find(struct dp_buckets *b, uint64_t key)
{
    struct dp_bucket *s = probe(b, key, 0);
    return s ? &s->val : NULL;
}

unsigned
dp_buckets_fleet(const struct dp_buckets *b)
{
    unsigned n = atomic_load_explicit(&((struct dp_buckets *)b)->fleet, memory_order_relaxed);
    return n ? n : 1;
}
