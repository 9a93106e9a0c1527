/* Fast revocation: keys a delta removes or disables are refused from the moment the delta is
 * received (on the config client's stream thread), not from the moment the node has compiled
 * it, which with a million keys takes most of a second. An entry stays until every worker runs
 * a snapshot of that revision or later (which itself refuses the key); a delta that enables
 * the key again drops it at once.
 *
 * A fixed open-addressing table of key-id hashes: writers (the stream thread, the main thread)
 * take a mutex; workers only read, lock-free, and an empty table costs them one atomic load.
 * When the table is full the fast path is skipped: the compile still refuses the key. */
#ifndef DP_POLICY_REVOKED_H
#define DP_POLICY_REVOKED_H

#include "edge/v1/config.pb-c.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define DP_REVOKED_SLOTS 1024 /* a power of two; at most 3/4 used */

enum dp_revoked_kind { DP_REVOKED_NONE = 0, DP_REVOKED_REMOVED = 1, DP_REVOKED_DISABLED = 2 };

struct dp_revoked_slot {
    _Atomic uint64_t key;   /* key id hash; 0: never used; DP_REVOKED_TOMB: freed */
    _Atomic uint64_t value; /* revision << 2 | kind */
};

struct dp_revoked {
    atomic_uint live; /* entries in force */
    pthread_mutex_t mu;
    unsigned used; /* slots ever used since the last reset (under mu) */
    struct dp_revoked_slot slots[DP_REVOKED_SLOTS];
};

void dp_revoked_init(struct dp_revoked *r);
void dp_revoked_done(struct dp_revoked *r);

/* Workers: how a key (its id hash) stands. */
enum dp_revoked_kind dp_revoked_check(const struct dp_revoked *r, uint64_t key_id_hash);
/* Stream thread: notes what a received delta does to keys (full snapshots are skipped). */
void dp_revoked_note_update(struct dp_revoked *r, const Edge__V1__ConfigUpdate *upd);
/* Main thread: drops the entries of revisions every worker has compiled in (min_revision: the
 * oldest revision a worker runs). */
void dp_revoked_expire(struct dp_revoked *r, uint64_t min_revision);

#endif
