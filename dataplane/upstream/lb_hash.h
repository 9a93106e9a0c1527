/* Consistent hashing (a ring, as in Karger et al. and nginx's `hash ... consistent`): each
 * target owns DP_LB_HASH_POINTS x weight points of a 64-bit ring; a request goes to the owner
 * of the first point at or after the hash of its client address, skipping targets already
 * tried or unresolved. Adding or removing a target moves only the keys of the points it owns
 * (about 1/N of them). The ring is snapshot data, built once per compile. */
#ifndef DP_LB_HASH_H
#define DP_LB_HASH_H

#include "snapshot/arena.h"
#include "snapshot/snapshot.h"

#include <stddef.h>
#include <stdint.h>

#define DP_LB_HASH_POINTS     160
#define DP_LB_HASH_MAX_POINTS 65536 /* weights are scaled down past this */

/* Builds u->ring from u->targets (names are their "host:port" authorities). 0, or -ENOMEM. */
int dp_lb_hash_build(struct dp_upstream *u, struct dp_arena *a);
/* The 64-bit ring position of a key (the client address bytes). */
uint64_t dp_lb_hash_key(const void *key, size_t len);
/* Picks the target for key_hash whose bit in skip is clear. 0 with *ret_idx, or -ENOENT. */
int dp_lb_hash_pick(const struct dp_upstream *u, uint64_t key_hash, uint64_t skip, size_t *ret_idx);

#endif
