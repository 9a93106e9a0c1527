/* API keys in the snapshot: records in one array, found by the SHA-256 of the secret through an
 * open-addressing table of 32-bit record indexes (linear probing, load <= 1/2). Per key that is
 * the 64-byte record, two 4-byte slots, the id string and its plan indexes: under ~100 bytes
 * (measured in tests/unit/dataplane/test_policy_keys.c). The secret itself is never held. */
#ifndef DP_POLICY_APIKEY_H
#define DP_POLICY_APIKEY_H

#include "snapshot/arena.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dp_key {
    uint8_t sha256[32];
    const char *id;     /* "k-..." */
    uint64_t id_hash;   /* stable bucket name of the key */
    int64_t expires_at; /* Unix s; 0: never */
    uint32_t plans_off; /* into dp_key_table.plan_refs */
    uint16_t n_plans;
    bool enabled;
};

struct dp_key_table {
    uint32_t *slots; /* record index + 1; 0: empty */
    size_t mask;
    struct dp_key *keys;
    size_t n, cap;
    uint32_t *plan_refs; /* plan indexes, n_plans per key from plans_off */
    size_t n_plan_refs, cap_plan_refs;
};

/* Sizes a table for up to n_keys keys and n_plan_refs plan references, in the arena.
 * 0, or -ENOMEM. */
int dp_key_table_init(struct dp_key_table *t, struct dp_arena *a, size_t n_keys,
                      size_t n_plan_refs);
/* Adds a key (copied) with its plan indexes. 0, -EEXIST (same secret hash already there: the
 * first stays), or -ENOSPC (more than sized for). */
int dp_key_table_add(struct dp_key_table *t, const struct dp_key *k, const uint32_t *plans,
                     size_t n_plans);
/* The key whose secret hashes to sha256, or NULL. */
const struct dp_key *dp_key_table_find(const struct dp_key_table *t, const uint8_t sha256[32]);

/* SHA-256 of a secret (OpenSSL). */
void dp_key_hash(const char *secret, size_t len, uint8_t ret_sha256[32]);

#endif
