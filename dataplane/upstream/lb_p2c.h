/* Least request by the power of two choices, and weighted random: per worker, no shared state.
 * "Least" counts this worker's requests in flight per target (struct dp_pool.active), which
 * approximates the node's view without any cross-thread traffic. */
#ifndef DP_LB_P2C_H
#define DP_LB_P2C_H

#include "snapshot/snapshot.h"
#include "upstream/pool.h"

#include <stdint.h>

/* xorshift64*: state must be non-zero. */
uint64_t dp_lb_rand(uint64_t *state);

/* Picks a resolved target whose bit in skip is clear. pools is indexed by pool id (for the
 * in-flight counts). 0 with *ret_idx, or -ENOENT. */
int dp_lb_p2c_pick(const struct dp_upstream *u, const struct dp_pool *pools, uint64_t skip,
                   uint64_t *rng, size_t *ret_idx);
int dp_lb_random_pick(const struct dp_upstream *u, uint64_t skip, uint64_t *rng, size_t *ret_idx);

#endif
