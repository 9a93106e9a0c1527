/* Mutable policy state shared by a node's workers: one lock-free open-addressing table of
 * 64-bit words (GCRA theoretical arrival times, quota counters) keyed by 64-bit hashes of stable
 * names (stage, route id, plan, key id). It lives outside the snapshot, in the daemon's
 * registries, so throttles and quotas carry over a snapshot swap.
 *
 * A slot is claimed on first use by a worker (CAS on its key word) and never freed; the table
 * has a fixed capacity chosen at creation. When a probe sequence is full the caller gets NULL
 * and fails open (admits), counted in `full`. Distinct names colliding on all 64 bits share a
 * bucket: with 2^20 live buckets the chance is ~2^-24, accepted. */
#ifndef DP_POLICY_BUCKETS_H
#define DP_POLICY_BUCKETS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct dp_leases;

struct dp_bucket {
    _Atomic uint64_t key; /* 0: free */
    _Atomic uint64_t val;
};

struct dp_buckets {
    struct dp_bucket *slots;
    size_t mask;
    atomic_uint fleet;         /* fleet size for fleet-wide limits; 0: unknown (treated as 1) */
    _Atomic uint64_t full;     /* lookups that found no free slot (failed open) */
    _Atomic uint64_t changed;  /* bumped whenever a quota counter moves (usage reports) */
    uint64_t reported_changed; /* `changed` at the last usage report (main thread) */
    struct dp_leases *_Atomic leases; /* quota leases (policy/lease.h); NULL: none */
};

/* capacity is rounded up to a power of two. 0, or -ENOMEM. Pages are touched only when used. */
int dp_buckets_init(struct dp_buckets *b, size_t capacity);
void dp_buckets_done(struct dp_buckets *b);
/* The word for key (found or claimed); NULL when the table is full there. Any thread. */
_Atomic uint64_t *dp_buckets_get(struct dp_buckets *b, uint64_t key);
/* The word for key if it exists; NULL otherwise. Any thread. */
_Atomic uint64_t *dp_buckets_find(struct dp_buckets *b, uint64_t key);
/* The fleet share divisor: the fleet size, at least 1. */
unsigned dp_buckets_fleet(const struct dp_buckets *b);

/* Stable 64-bit names: FNV-1a over the bytes, then mixed; never 0. */
uint64_t dp_policy_hash(uint64_t seed, const char *s, size_t n);
uint64_t dp_policy_hash_str(uint64_t seed, const char *s);
uint64_t dp_policy_mix(uint64_t a, uint64_t b);

#endif
