/* Smooth weighted round robin (the nginx algorithm): per worker, per upstream, so no shared
 * state; it spreads picks evenly over time (weights 5,1,1 give a a b a c a a, not a a a a a b c).
 */
#ifndef DP_LB_RR_H
#define DP_LB_RR_H

#include "snapshot/snapshot.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dp_lb_rr {
    const struct dp_upstream *for_up; /* the cursor is reset when the upstream changes */
    int64_t *current;
    size_t n;
};

void dp_lb_rr_done(struct dp_lb_rr *st);
/* Picks a target of u whose bit in skip is clear (skip may be NULL; bits beyond 64 are never
 * skipped) and that resolved. 0 with *ret_idx, -ENOENT when none is left, -ENOMEM. */
int dp_lb_rr_pick(struct dp_lb_rr *st, const struct dp_upstream *u, uint64_t skip, size_t *ret_idx);

#endif
