/* The node's API keys: one store for every snapshot, changed in place by the main thread as
 * key deltas arrive, read by the workers without locks.
 *
 * Why not in the snapshot: a node with a million keys would recompile and copy every key for
 * each revoke, and hold each key twice (in the snapshot and in the config client's merge
 * state). Here a key is one 64-byte record, one 32-bit slot in the lookup index (by secret
 * hash, load <= 1/2) and one in the writer's id index: about 80 bytes resident per key.
 *
 * Readers copy a record under its sequence word (a seqlock: retried when the writer was
 * inside), so a record may be rewritten or reused at any time. The lookup index is swapped
 * when it grows; each snapshot holds a reference on the index it was published with
 * (dp_keystore_index_ref), so an index lives as long as a reader can be probing it. Records
 * and plan sets are never freed before the store: the store's memory is bounded by the most
 * keys it ever held at once.
 *
 * Key ids are the control plane's: "k-" and 12 lowercase hex digits (resources.proto), kept
 * as 48 bits. A key with another id is refused (-EINVAL). */
#ifndef DP_POLICY_KEYSTORE_H
#define DP_POLICY_KEYSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DP_KEY_ID_LEN    14 /* "k-" + 12 hex digits */
#define DP_KEY_MAX_PLANS 64

/* A reader's copy of one key. */
struct dp_key {
    char id[DP_KEY_ID_LEN + 1];
    bool enabled;
    uint64_t id_hash;   /* stable bucket name of the key (dp_policy_hash_str of the id) */
    int64_t expires_at; /* Unix s; 0: never */
    uint32_t planset;   /* dp_keystore_planset() */
};

struct dp_keystore;
struct dp_keyindex;

/* 0 with *ret, or -ENOMEM. */
int dp_keystore_new(struct dp_keystore **ret);
/* When no reader is left (every snapshot is gone). Accepts NULL. */
void dp_keystore_free(struct dp_keystore *ks);

/* ---- the writer (one thread: the node's main loop) ------------------------------------- */

/* Adds a key or replaces the one with this id. plans are usage plan names (unknown ones cover
 * nothing; at most DP_KEY_MAX_PLANS). 0; -EINVAL for an id not of the control plane's form;
 * -EEXIST when another key has this secret hash (the first stays); -ENOSPC past 2^31 keys;
 * -ENOMEM (the store is unchanged). */
int dp_keystore_put(struct dp_keystore *ks, const char *id, const uint8_t sha256[32], bool enabled,
                    int64_t expires_at, const char *const *plans, size_t n_plans);
/* 0, or -ENOENT. */
int dp_keystore_remove(struct dp_keystore *ks, const char *id);

/* A full set of keys: after dp_keystore_reset_begin(), the keys put are the store's, and
 * dp_keystore_reset_end() removes every other one. Keys that stay are never missing in
 * between (no window where a valid key is refused). Returns the number removed. */
void dp_keystore_reset_begin(struct dp_keystore *ks);
size_t dp_keystore_reset_end(struct dp_keystore *ks);

size_t dp_keystore_count(const struct dp_keystore *ks);

/* The stable id of a usage plan name (added if new): what plan sets hold. 0, or -ENOMEM. */
int dp_keystore_plan_id(struct dp_keystore *ks, const char *name, uint32_t *ret_id);
/* Plan name ids handed out so far (every id is below it). */
uint32_t dp_keystore_plan_ids(const struct dp_keystore *ks);
const char *dp_keystore_plan_name(const struct dp_keystore *ks, uint32_t id);

/* Calls fn for every key (writer thread), with its plan names' ids. Stops at and returns the
 * first non-zero result of fn. */
typedef int (*dp_keystore_each_fn)(void *ctx, const struct dp_key *key, const uint8_t sha256[32],
                                   const uint32_t *plan_ids, size_t n_plans);
int dp_keystore_each(const struct dp_keystore *ks, dp_keystore_each_fn fn, void *ctx);

/* The current lookup index, with a reference for the caller (a snapshot). */
struct dp_keyindex *dp_keystore_index_ref(struct dp_keystore *ks);
/* Any thread. Accepts NULL; returns NULL. */
struct dp_keyindex *dp_keyindex_unref(struct dp_keyindex *ix);

/* ---- readers (any thread) -------------------------------------------------------------- */

/* The key whose secret hashes to sha256, copied into *ret. ix may be NULL (no keys). */
bool dp_keyindex_find(const struct dp_keyindex *ix, const uint8_t sha256[32], struct dp_key *ret);
/* The plan name ids of a plan set (valid for the store's life). */
const uint32_t *dp_keyindex_planset(const struct dp_keyindex *ix, uint32_t planset, size_t *ret_n);

#endif
