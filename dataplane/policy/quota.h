/* Quotas: a count per (key, plan) and UTC period (day; week from Monday; calendar month).
 * The period start, as days since the epoch, is packed with the count into one 64-bit word so
 * a new period resets the count without a sweep:
 *     word = (start_day + 1) << 40 | count
 * Each node enforces its share ceil(limit / fleet) (DESIGN §5, quota leases). */
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

#endif
