#include "policy/quota.h"

#include "period.h"

#include <errno.h>
#include <time.h>

#define COUNT_BITS 40
#define COUNT_MASK ((1ULL << COUNT_BITS) - 1)

static int64_t
floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int
dp_quota_period(enum dp_quota_period p, int64_t unix_s, int64_t *ret_start, int64_t *ret_end)
{
    _Static_assert((int)DP_QUOTA_DAY == EDGE_PERIOD_DAY && (int)DP_QUOTA_WEEK == EDGE_PERIOD_WEEK &&
                       (int)DP_QUOTA_MONTH == EDGE_PERIOD_MONTH,
                   "one numbering of quota periods");
    return edge_period_of((int)p, unix_s, ret_start, ret_end);
}

static uint64_t
tag_of(int64_t period_start)
{
    return (uint64_t)(floor_div(period_start, 86400) + 1) & ((1ULL << (64 - COUNT_BITS)) - 1);
}

uint64_t
dp_quota_count(uint64_t word, int64_t period_start)
{
    return (word >> COUNT_BITS) == tag_of(period_start) ? word & COUNT_MASK : 0;
}

bool
dp_quota_take(_Atomic uint64_t *word, int64_t period_start, uint64_t limit, uint64_t *ret_used)
{
    uint64_t tag = tag_of(period_start);
    uint64_t old = atomic_load_explicit(word, memory_order_relaxed);
    for (;;) {
        uint64_t count = (old >> COUNT_BITS) == tag ? old & COUNT_MASK : 0;
        if (count >= limit || count >= COUNT_MASK) {
            if (ret_used)
                *ret_used = count;
            return false;
        }
        uint64_t next = tag << COUNT_BITS | (count + 1);
        if (atomic_compare_exchange_weak_explicit(word, &old, next, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            if (ret_used)
                *ret_used = count + 1;
            return true;
        }
    }
}

#define LEASE_EXHAUSTED (1ULL << 39)

enum dp_lease_state
dp_lease_take(_Atomic uint64_t *word, int64_t period_start, bool take)
{
    uint64_t tag = tag_of(period_start);
    uint64_t old = atomic_load_explicit(word, memory_order_relaxed);
    for (;;) {
        if ((old >> COUNT_BITS) != tag)
            return DP_LEASE_NONE;
        if ((old & DP_LEASE_MAX) == 0)
            return old & LEASE_EXHAUSTED ? DP_LEASE_EXHAUSTED : DP_LEASE_NONE;
        if (!take)
            return DP_LEASE_TAKEN;
        if (atomic_compare_exchange_weak_explicit(word, &old, old - 1, memory_order_relaxed,
                                                  memory_order_relaxed))
            return DP_LEASE_TAKEN;
    }
}

void
dp_lease_grant(_Atomic uint64_t *word, int64_t period_start, uint64_t n, bool exhausted)
{
    uint64_t tag = tag_of(period_start);
    uint64_t old = atomic_load_explicit(word, memory_order_relaxed);
    for (;;) {
        uint64_t left = (old >> COUNT_BITS) == tag ? old & DP_LEASE_MAX : 0;
        uint64_t next;
        if (exhausted) {
            next = tag << COUNT_BITS | LEASE_EXHAUSTED | left;
        } else {
            left = n > DP_LEASE_MAX - left ? DP_LEASE_MAX : left + n;
            next = tag << COUNT_BITS | left;
        }
        if (atomic_compare_exchange_weak_explicit(word, &old, next, memory_order_relaxed,
                                                  memory_order_relaxed))
            return;
    }
}

uint64_t
dp_lease_drain(_Atomic uint64_t *word, int64_t period_start, bool clear_exhausted)
{
    uint64_t tag = tag_of(period_start);
    uint64_t old = atomic_load_explicit(word, memory_order_relaxed);
    for (;;) {
        if ((old >> COUNT_BITS) != tag)
            return 0;
        uint64_t keep = clear_exhausted ? 0 : old & LEASE_EXHAUSTED;
        if (atomic_compare_exchange_weak_explicit(word, &old, tag << COUNT_BITS | keep,
                                                  memory_order_relaxed, memory_order_relaxed))
            return old & DP_LEASE_MAX;
    }
}
