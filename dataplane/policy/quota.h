/* Quotas: a count per (key, plan) and UTC period (day; week from Monday; calendar month).
 * The period start, as days since the epoch, is packed with the count into one 64-bit word so
 * a new period resets the count without a sweep:
 *     word = (start_day + 1) << 40 | count
 *
 * Leases (DESIGN §5): while the control plane is connected, a node admits a quota-limited
 * request only against a lease, the requests the control plane granted it for the period,
 * kept in a second word per (key, plan):
 *     lease = (start_day + 1) << 40 | exhausted << 39 | remaining
 * Without the control plane a node falls back to its share ceil(limit / fleet) of its count. */
#ifndef DP_POLICY_QUOTA_H
#define DP_POLICY_QUOTA_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum dp_quota_period {
    DP_QUOTA_NONE = 0,
    DP_QUOTA_DAY = 1,
    DP_QUOTA_WEEK = 2,
    DP_QUOTA_MONTH = 3,
};

/* [*ret_start, *ret_end) in Unix seconds: the UTC period holding unix_s. 0, or -EINVAL. */
int dp_quota_period(enum dp_quota_period p, int64_t unix_s, int64_t *ret_start, int64_t *ret_end);

/* Counts one request in the period starting at period_start (Unix s) if fewer than limit were
 * counted already. true: admitted. *ret_used (may be NULL): the count after this call. */
bool dp_quota_take(_Atomic uint64_t *word, int64_t period_start, uint64_t limit,
                   uint64_t *ret_used);

/* The count held by word for the period starting at period_start (0 for another period). */
uint64_t dp_quota_count(uint64_t word, int64_t period_start);

enum dp_lease_state {
    DP_LEASE_TAKEN,     /* one leased request used */
    DP_LEASE_NONE,      /* nothing left for the period: ask the control plane */
    DP_LEASE_EXHAUSTED, /* the control plane said the quota is used up */
};

#define DP_LEASE_MAX ((1ULL << 39) - 1)

/* Uses one leased request (take) or only tells whether one is there (peek). Any thread. */
enum dp_lease_state dp_lease_take(_Atomic uint64_t *word, int64_t period_start, bool take);
/* Adds n leased requests for the period (another period's lease is replaced), or marks the
 * period exhausted (n ignored). Any thread. */
void dp_lease_grant(_Atomic uint64_t *word, int64_t period_start, uint64_t n, bool exhausted);
/* Takes back every unused leased request of the period (remaining becomes 0; the exhausted
 * mark goes too when clear_exhausted) and returns how many there were. Any thread. */
uint64_t dp_lease_drain(_Atomic uint64_t *word, int64_t period_start, bool clear_exhausted);

#endif
