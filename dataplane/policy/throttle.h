/* Throttles by GCRA (the generic cell rate algorithm): one 64-bit word per bucket holds the
 * theoretical arrival time (TAT, ns on CLOCK_MONOTONIC), updated with compare-and-swap, so the
 * node's workers share a bucket without a lock.
 *
 * Rates are fleet-wide (DESIGN §2): with a fleet of N nodes each node enforces rate/N and a
 * burst of ceil(burst/N) (at least 1). A node that gets more than its share of the traffic
 * admits less than the fleet could; the fleet never admits more than rate (+ N-1 bursts). */
#ifndef DP_POLICY_THROTTLE_H
#define DP_POLICY_THROTTLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct dp_throttle {
    double rate;    /* requests per second, fleet-wide; <= 0: no throttle */
    uint32_t burst; /* fleet-wide; 0 is taken as 1 */
};

/* What a throttle answered, for the RateLimit-* and Retry-After headers (seconds, ceil). */
struct dp_throttle_result {
    uint32_t limit;     /* this node's burst */
    uint32_t remaining; /* requests admissible now after this one */
    uint32_t reset_s;   /* until the bucket is full again */
    uint32_t retry_s;   /* rejected: until the next request would be admitted */
};

static inline bool
dp_throttle_on(const struct dp_throttle *t)
{
    return t->rate > 0;
}

/* One request at now_ns against the bucket word tat (any thread). true: admitted. ret (may be
 * NULL) is filled either way. */
bool dp_throttle_take(_Atomic uint64_t *tat, const struct dp_throttle *t, unsigned fleet,
                      uint64_t now_ns, struct dp_throttle_result *ret);

#endif
