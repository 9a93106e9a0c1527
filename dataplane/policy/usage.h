/* Usage reports: what the node's workers counted per (key, plan) since the last report that
 * went out, for the control plane to sum (DESIGN §5). Main thread. */
#ifndef DP_POLICY_USAGE_H
#define DP_POLICY_USAGE_H

#include "edge/v1/config.pb-c.h"
#include "snapshot/snapshot.h"

/* Sends a report (borrowed): 0 when it went out, a negative errno otherwise. */
typedef int (*dp_policy_send_fn)(void *ctx, const Edge__V1__UsageReport *report);

/* Collects the counts that moved since the last successful report of s's keys and sends them
 * with send; on success they are marked reported, on failure they wait for the next call.
 * Cheap when nothing moved. Returns the number of counts sent (>= 0), or the send's error.
 * Counts of a period that ended between two reports are not sent (at most one report
 * interval of traffic per key and period). */
int dp_policy_usage_report(const struct dp_snapshot *s, dp_policy_send_fn send, void *ctx);

/* The bucket name of the usage/quota counter of (plan, key) (shared with policy.c). */
uint64_t dp_policy_usage_id(uint64_t plan_id, uint64_t key_id_hash);

/* The requests of (usage word, period) counted since the last report, marked reported as they
 * are returned (they travel in a quota lease message instead). Main thread. */
uint64_t dp_policy_usage_claim(struct dp_buckets *b, uint64_t usage_id, int64_t period_start);

/* The bucket name of the quota lease word of a usage word (policy/quota.h). */
static inline uint64_t
dp_policy_lease_id(uint64_t usage_id)
{
    return dp_policy_mix(usage_id, 0x4c45u);
}

#endif
